// DecodeOptions — the parameters of a decode strategy for one sequence.
//
// Contract: plain value type. validate() throws tandem::Error naming the bad
// field. Generation ends at the first stop token (not emitted), after
// max_new_tokens tokens, or when prompt + generated tokens reach n_ctx (the
// last token never needs a cache slot).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/decode/request.h"
#include "tandem/sampling/sampler.h"

namespace tandem::decode {

enum class Mode { kAr, kSpec, kBild };

// "ar" | "spec" | "bild"; throws tandem::Error otherwise.
Mode parse_mode(std::string_view name);
std::string_view mode_name(Mode m);

struct DecodeOptions {
  Mode mode = Mode::kAr;
  int seq = 0;  // KV-cache sequence id in both models' caches
  int64_t max_new_tokens = 128;
  int64_t n_ctx = 0;                     // committed tokens never exceed this; 0 = unlimited
  std::vector<int32_t> stop_tokens;      // end of generation; not emitted
  SamplingParams sampling;               // greedy when temperature <= 0
  ModelRole ar_model = ModelRole::kBig;  // ar: which model decodes
  // spec: drafts per verification; bild: the most little-model steps before
  // the big model runs (BiLD's max_little_steps).
  int draft_max = 4;
  float alpha_fb = 0.6f;  // bild fallback: little's top probability below this hands over
  float alpha_rb = 5.0f;  // bild rollback: -log p_big(draft) above this rolls back

  void validate() const;
};

}  // namespace tandem::decode
