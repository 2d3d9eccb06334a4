#include "tandem/decode/speculative.h"

namespace tandem::decode {

Speculative::Speculative(std::vector<int32_t> prompt, const DecodeOptions& options)
    : DraftVerify(std::move(prompt), options) {}

std::optional<int32_t> Speculative::propose(std::span<const float> logits,
                                            std::span<const int32_t> history) {
  const Distribution q = sampler_.distribution(logits, history);
  if (options_.sampling.greedy()) return q.front().first;
  if (drafts_.empty()) q_.clear();  // a new round
  q_.push_back(dense(q, static_cast<int64_t>(logits.size())));
  return draw(q, sampler_.rng());
}

DraftVerify::Verdict Speculative::judge(size_t i, std::span<const float> logits,
                                        std::span<const int32_t> history) {
  const int32_t x = drafts_[i];
  if (options_.sampling.greedy()) {
    const int32_t b = sampler_.distribution(logits, history).front().first;
    return {b == x, b};
  }
  std::vector<float> p =
      dense(sampler_.distribution(logits, history), static_cast<int64_t>(logits.size()));
  const std::vector<float>& q = q_[i];
  // Accept with probability min(1, p(x) / q(x)); q(x) > 0 because x was drawn from q.
  if (sampler_.rng().uniform() * q[x] < p[x]) return {true, 0};
  double residual = 0;
  for (size_t t = 0; t < p.size(); ++t) {
    p[t] = std::max(0.0f, p[t] - q[t]);
    residual += p[t];
  }
  // residual == 0 only when p == q up to rounding, where rejection has probability ~0.
  if (residual <= 0) return {false, big_token(logits, history)};
  return {false, draw(p, sampler_.rng())};
}

}  // namespace tandem::decode
