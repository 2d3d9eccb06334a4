// Strategy — a decode strategy (ar, spec, bild) as a state machine over one
// sequence.
//
// Contract: the strategy owns the sequence's tokens (prompt + accepted), its
// sampler (and so its RNG) and statistics, and knows how many leading tokens of
// each model's KV cache are still valid; it owns no model and no cache.
// Phases: first a prefill phase (requests marked `prefill`: prompt[0, n-1)
// through each model the strategy uses, once), then the generation phase, whose
// first request feeds the last prompt token. Loop:
//   while (auto req = s.next_request()) { execute *req (see request.h); s.on_result(out, entry); }
// next_request() returns the same request until on_result() is called; it
// returns nullopt once done(). Accepted tokens are appended incrementally and
// handed out by take_new_tokens() (for streaming); a stop token ends the
// sequence and is not emitted. Both models must share one vocabulary.
// KV invariant: after every on_result(), the valid prefix of each cache equals
// what a fresh run over the same tokens would hold; rejected drafts and
// rollbacks are undone by the `keep` of the next request (a truncate).
// Thread safety: none; one owner at a time. Distinct strategies are independent.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "tandem/decode/options.h"
#include "tandem/decode/request.h"
#include "tandem/decode/stats.h"
#include "tandem/sampling/sampler.h"

namespace tandem::decode {

class Strategy {
 public:
  virtual ~Strategy() = default;

  virtual std::string_view name() const = 0;
  // The forward this sequence needs next; nullopt when done().
  virtual std::optional<ForwardRequest> next_request() = 0;
  // The result of the last request: `entry` is its index in out's batch.
  virtual void on_result(const ForwardOutput& out, size_t entry) = 0;

  bool done() const { return done_; }
  // Tokens accepted since the last call.
  std::vector<int32_t> take_new_tokens();
  const std::vector<int32_t>& tokens() const { return tokens_; }  // prompt + generated
  std::span<const int32_t> generated() const {
    return std::span<const int32_t>(tokens_).subspan(prompt_len_);
  }
  int64_t prompt_length() const { return prompt_len_; }
  // The sequence as it is being fed: tokens() plus pending drafts.
  virtual std::vector<int32_t> context() const { return tokens_; }
  const DecodeStats& stats() const { return stats_; }
  const DecodeOptions& options() const { return options_; }

 protected:
  Strategy(std::vector<int32_t> prompt, DecodeOptions options);

  // Appends an accepted token; false when generation has ended (a stop token,
  // which is dropped, or a limit reached) and no more may be committed.
  bool commit(int32_t token);
  int64_t remaining() const { return options_.max_new_tokens - stats_.generated; }
  // Tokens that may still be fed beyond tokens() before the context is full.
  int64_t room() const;
  ForwardRequest request(ModelRole m, int64_t keep, std::vector<int32_t> tokens, LogitsMode mode);
  // Tokens the prefill phase puts in each model's cache: prompt[0, n-1); 0
  // for a one-token prompt, which has no prefill phase.
  int64_t prefill_length() const { return prompt_len_ - 1; }
  // The prefill request of model m: prompt[0, n-1) on an empty cache, no logits.
  ForwardRequest prefill_request(ModelRole m);
  // Counts a finished forward of `fed` tokens through m in stats_.
  void count_forward(ModelRole m, int64_t fed);

  DecodeOptions options_;
  std::vector<int32_t> tokens_;
  int64_t prompt_len_;
  size_t emitted_ = 0;
  bool done_ = false;
  DecodeStats stats_;
  Sampler sampler_;
};

std::unique_ptr<Strategy> make_strategy(std::vector<int32_t> prompt, const DecodeOptions& options);

}  // namespace tandem::decode
