#include "tandem/decode/probability.h"

#include <algorithm>
#include <cmath>

#include "tandem/base/error.h"

namespace tandem::decode {

namespace {
// max logit and sum of exp(l - max), in double.
std::pair<float, double> log_partition(std::span<const float> logits) {
  const float m = *std::max_element(logits.begin(), logits.end());
  double s = 0;
  for (float l : logits) s += std::exp(static_cast<double>(l) - m);
  return {m, s};
}
}  // namespace

float softmax_max(std::span<const float> logits) {
  const auto [m, s] = log_partition(logits);
  return static_cast<float>(1.0 / s);
}

float softmax_prob(std::span<const float> logits, int32_t token) {
  const auto [m, s] = log_partition(logits);
  return static_cast<float>(std::exp(static_cast<double>(logits[token]) - m) / s);
}

std::vector<float> dense(const Distribution& d, int64_t n_vocab) {
  std::vector<float> p(n_vocab, 0.0f);
  for (const auto& [t, prob] : d) p[t] = prob;
  return p;
}

int32_t draw(const Distribution& d, Rng& rng) {
  TANDEM_CHECK(!d.empty(), "empty distribution");
  const double u = rng.uniform();
  double c = 0;
  for (const auto& [t, prob] : d) {
    c += prob;
    if (u < c) return t;
  }
  return d.back().first;  // rounding: the sum fell just short of 1
}

int32_t draw(std::span<const float> weights, Rng& rng) {
  double total = 0;
  for (float w : weights) total += w;
  TANDEM_CHECK(total > 0, "all weights are zero");
  const double u = rng.uniform() * total;
  double c = 0;
  int32_t last = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (weights[i] <= 0) continue;
    c += weights[i];
    last = static_cast<int32_t>(i);
    if (u < c) return last;
  }
  return last;
}

}  // namespace tandem::decode
