#include "tandem/decode/autoregressive.h"

namespace tandem::decode {

Autoregressive::Autoregressive(std::vector<int32_t> prompt, const DecodeOptions& options)
    : Strategy(std::move(prompt), options) {}

std::optional<ForwardRequest> Autoregressive::next_request() {
  if (done_) return std::nullopt;
  if (valid_ == 0 && prefill_length() > 0) return prefill_request(options_.ar_model);
  return request(options_.ar_model, valid_,
                 std::vector<int32_t>(tokens_.begin() + valid_, tokens_.end()), LogitsMode::kLast);
}

void Autoregressive::on_result(const ForwardOutput& out, size_t entry) {
  if (valid_ == 0 && prefill_length() > 0) {  // the prefill request
    count_forward(options_.ar_model, prefill_length());
    valid_ = prefill_length();
    return;
  }
  count_forward(options_.ar_model, static_cast<int64_t>(tokens_.size()) - valid_);
  valid_ = static_cast<int64_t>(tokens_.size());
  const int32_t t =
      sampler_.sample(std::span<const float>(out.logits_of(entry), out.n_vocab), tokens_);
  commit(t);
}

}  // namespace tandem::decode
