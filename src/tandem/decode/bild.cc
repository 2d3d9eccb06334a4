#include "tandem/decode/bild.h"

#include <cmath>

namespace tandem::decode {

Bild::Bild(std::vector<int32_t> prompt, const DecodeOptions& options)
    : DraftVerify(std::move(prompt), options) {}

std::optional<int32_t> Bild::propose(std::span<const float> logits,
                                     std::span<const int32_t> history) {
  if (softmax_max(logits) < options_.alpha_fb) return std::nullopt;
  const Distribution q = sampler_.distribution(logits, history);
  return options_.sampling.greedy() ? q.front().first : draw(q, sampler_.rng());
}

DraftVerify::Verdict Bild::judge(size_t i, std::span<const float> logits,
                                 std::span<const int32_t> history) {
  const int32_t y = drafts_[i];
  const double rb = options_.alpha_rb;
  if (options_.sampling.greedy()) {
    const int32_t b = sampler_.distribution(logits, history).front().first;
    if (y == b) return {true, 0};
    const double nll = -std::log(static_cast<double>(softmax_prob(logits, y)));
    return nll > rb ? Verdict{false, b} : Verdict{true, 0};
  }
  const Distribution p = sampler_.distribution(logits, history);
  double py = 0;
  for (const auto& [t, prob] : p)
    if (t == y) py = prob;
  if (py > 0 && -std::log(py) <= rb) return {true, 0};
  return {false, draw(p, sampler_.rng())};
}

}  // namespace tandem::decode
