// Speculative — lossless draft-and-verify (Leviathan et al. 2023; Chen et al.
// 2023). The little model drafts up to draft_max tokens; the big model checks
// them all in one forward. Greedy: keep the drafts that equal the big model's
// argmax, then the big model's token. Sampling: keep draft x with probability
// min(1, p(x)/q(x)) (p, q: the big / little models' processed distributions
// from Sampler::distribution()); on rejection draw from normalize(max(0, p-q));
// with every draft kept draw one more token from p. Either way the output is
// distributed exactly as the big model's own decoding would be.
// Contract and thread safety: see strategy.h / draft_verify.h.
#pragma once

#include "tandem/decode/draft_verify.h"

namespace tandem::decode {

class Speculative final : public DraftVerify {
 public:
  Speculative(std::vector<int32_t> prompt, const DecodeOptions& options);
  std::string_view name() const override { return "spec"; }

 private:
  std::optional<int32_t> propose(std::span<const float> logits,
                                 std::span<const int32_t> history) override;
  Verdict judge(size_t i, std::span<const float> logits, std::span<const int32_t> history) override;

  std::vector<std::vector<float>> q_;  // sampling: little's distribution per draft, (n_vocab)
};

}  // namespace tandem::decode
