#include "tandem/decode/autoregressive.h"

namespace tandem::decode {

Autoregressive::Autoregressive(std::vector<int32_t> prompt, const DecodeOptions& options)
    : Strategy(std::move(prompt), options) {}

std::optional<ForwardRequest> Autoregressive::next_request() {
  if (done_) return std::nullopt;
  return request(options_.ar_model, valid_,
                 std::vector<int32_t>(tokens_.begin() + valid_, tokens_.end()), LogitsMode::kLast);
}

void Autoregressive::on_result(const ForwardOutput& out, size_t entry) {
  const int64_t fed = static_cast<int64_t>(tokens_.size()) - valid_;
  if (options_.ar_model == ModelRole::kBig) {
    ++stats_.big_calls;
    stats_.big_tokens += fed;
  } else {
    ++stats_.little_calls;
    stats_.little_tokens += fed;
  }
  valid_ = static_cast<int64_t>(tokens_.size());
  const int32_t t =
      sampler_.sample(std::span<const float>(out.logits_of(entry), out.n_vocab), tokens_);
  commit(t);
}

}  // namespace tandem::decode
