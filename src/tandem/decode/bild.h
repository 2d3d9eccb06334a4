// Bild — the Big-Little Decoder (Kim et al., NeurIPS 2023).
//   Fallback: the little model drafts while its top probability (softmax of its
//   raw logits) is >= alpha_fb, at most draft_max tokens (BiLD's
//   max_little_steps); below alpha_fb that draft is discarded and the big model
//   runs over every pending token.
//   Rollback: in that big pass, the first draft y_i with
//   -log p_big(y_i) > alpha_rb is replaced by the big model's token and
//   everything after it discarded (in both caches, through the next requests'
//   `keep`). Greedy: p_big is softmax of the big model's raw logits, and a draft
//   equal to the big model's argmax always stands, so alpha_rb = 0 is exactly
//   greedy speculative decoding. Sampling: p_big is the processed distribution
//   and the replacement is drawn from it.
// Contract and thread safety: see strategy.h / draft_verify.h.
#pragma once

#include "tandem/decode/draft_verify.h"

namespace tandem::decode {

class Bild final : public DraftVerify {
 public:
  Bild(std::vector<int32_t> prompt, const DecodeOptions& options);
  std::string_view name() const override { return "bild"; }

 private:
  std::optional<int32_t> propose(std::span<const float> logits,
                                 std::span<const int32_t> history) override;
  Verdict judge(size_t i, std::span<const float> logits, std::span<const int32_t> history) override;
};

}  // namespace tandem::decode
