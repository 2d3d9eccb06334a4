// Autoregressive — plain one-token-per-forward decoding with one model
// (options.ar_model), the baseline every other strategy is measured against.
// Contract and thread safety: see strategy.h.
#pragma once

#include "tandem/decode/strategy.h"

namespace tandem::decode {

class Autoregressive final : public Strategy {
 public:
  Autoregressive(std::vector<int32_t> prompt, const DecodeOptions& options);
  std::string_view name() const override { return "ar"; }
  std::optional<ForwardRequest> next_request() override;
  void on_result(const ForwardOutput& out, size_t entry) override;

 private:
  int64_t valid_ = 0;  // leading tokens of tokens() in the model's cache
};

}  // namespace tandem::decode
