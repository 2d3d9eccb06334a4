// DecodeStats — counters of one request's decoding (or a sum of many).
//
// Contract: plain value type; += adds counters, the ratios are derived.
// "Drafted" counts little-model tokens proposed to the big model; "rollbacks"
// counts verifications that rejected a draft (spec) or rolled one back (bild);
// "fallbacks" counts BiLD hand-overs caused by low little-model confidence.
#pragma once

#include <cstdint>
#include <string>

namespace tandem::decode {

struct DecodeStats {
  int64_t generated = 0;      // tokens emitted
  int64_t drafted = 0;        // draft tokens sent to verification
  int64_t accepted = 0;       // of those, kept
  int64_t rounds = 0;         // verification passes of the big model
  int64_t fallbacks = 0;      // bild: little confidence < alpha_fb
  int64_t rollbacks = 0;      // verifications that discarded a draft
  int64_t big_calls = 0;      // big-model forwards (prompt included)
  int64_t little_calls = 0;   // little-model forwards (prompt included)
  int64_t big_tokens = 0;     // tokens run through the big model
  int64_t little_tokens = 0;  // tokens run through the little model

  DecodeStats& operator+=(const DecodeStats& o);

  double acceptance_rate() const { return drafted ? double(accepted) / drafted : 0.0; }
  double big_calls_per_token() const { return generated ? double(big_calls) / generated : 0.0; }
  // Drafts kept per verification pass.
  double mean_accepted_length() const { return rounds ? double(accepted) / rounds : 0.0; }
  double fallback_rate() const { return rounds ? double(fallbacks) / rounds : 0.0; }
  double rollback_rate() const { return rounds ? double(rollbacks) / rounds : 0.0; }

  // One line for the CLI.
  std::string summary() const;
};

}  // namespace tandem::decode
