// DraftVerify — the machinery spec and bild share: after the prefill phase (big,
// then little; see strategy.h) the little model drafts
// tokens one forward at a time, then the big model scores every pending token
// (the tail of the accepted sequence its cache lacks, plus all drafts) in one
// forward with LogitsMode::kAll, and the subclass judges each draft in order.
// The first rejected draft is replaced (by the subclass's choice) and the rest
// discarded; when every draft stands, one more token is taken from the big
// model's last row. Cache validity is tracked per model: after a verification
// the big cache keeps the accepted drafts, the little cache keeps what it fed
// that is still on the accepted path; the next request's `keep` truncates the
// rest away (see request.h). Contract and thread safety: see strategy.h.
#pragma once

#include "tandem/decode/probability.h"
#include "tandem/decode/strategy.h"

namespace tandem::decode {

class DraftVerify : public Strategy {
 public:
  std::optional<ForwardRequest> next_request() override;
  void on_result(const ForwardOutput& out, size_t entry) override;
  std::vector<int32_t> context() const override;

 protected:
  DraftVerify(std::vector<int32_t> prompt, const DecodeOptions& options);

  struct Verdict {
    bool accept = true;
    int32_t replacement = 0;  // when !accept
  };
  // On the little model's logits after `history`: the next draft, or nullopt
  // to stop drafting now (a fallback; the draft is discarded).
  virtual std::optional<int32_t> propose(std::span<const float> logits,
                                         std::span<const int32_t> history) = 0;
  // On the big model's logits at draft i's position: keep drafts_[i] or replace it.
  virtual Verdict judge(size_t i, std::span<const float> logits,
                        std::span<const int32_t> history) = 0;
  // The big model's own token (greedy: its argmax; sampling: a draw).
  int32_t big_token(std::span<const float> logits, std::span<const int32_t> history);

  std::vector<int32_t> drafts_;

 private:
  size_t draft_limit() const;
  void on_draft(const ForwardOutput& out, size_t entry);
  void on_verify(const ForwardOutput& out, size_t entry);

  bool verifying_ = false;
  bool pending_prefill_ = false;  // the request handed out is a prefill
  ModelRole pending_ = ModelRole::kBig;
  int64_t big_valid_ = 0;     // leading tokens of context() valid in the big cache
  int64_t little_valid_ = 0;  // ... in the little cache
};

}  // namespace tandem::decode
