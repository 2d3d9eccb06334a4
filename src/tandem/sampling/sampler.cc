#include "tandem/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_set>

#include "tandem/base/error.h"
#include "tandem/base/random.h"

namespace tandem {

void SamplingParams::validate() const {
  if (!std::isfinite(temperature)) fail("temperature must be a finite number");
  if (top_k < 0) fail("top-k must be >= 0 (0 disables it), got {}", top_k);
  if (!(top_p > 0.0f && top_p <= 1.0f)) fail("top-p must be in (0, 1], got {}", top_p);
  if (!(min_p >= 0.0f && min_p < 1.0f)) fail("min-p must be in [0, 1), got {}", min_p);
  if (!(repeat_penalty > 0.0f && std::isfinite(repeat_penalty)))
    fail("repeat penalty must be > 0, got {}", repeat_penalty);
  if (repeat_last_n < 0) fail("repeat-last-n must be >= 0, got {}", repeat_last_n);
}

namespace {
uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}
}  // namespace

Rng::Rng(uint64_t seed) {
  for (uint64_t& s : s_) s = splitmix64(seed);
}

uint64_t Rng::next() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Rng::uniform() {
  return static_cast<double>(next() >> 11) * 0x1.0p-53;
}

int32_t argmax(std::span<const float> logits) {
  TANDEM_CHECK(!logits.empty(), "argmax of no logits");
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

Sampler::Sampler(SamplingParams params) : params_(params), rng_(params.seed) {
  params_.validate();
}

std::vector<std::pair<int32_t, float>> Sampler::distribution(
    std::span<const float> logits, std::span<const int32_t> history) const {
  const SamplingParams& p = params_;
  const int32_t n = static_cast<int32_t>(logits.size());
  std::vector<float> z(logits.begin(), logits.end());
  if (p.repeat_penalty != 1.0f && p.repeat_last_n > 0) {
    const size_t from = history.size() > static_cast<size_t>(p.repeat_last_n)
                            ? history.size() - p.repeat_last_n
                            : 0;
    std::unordered_set<int32_t> seen(history.begin() + from, history.end());
    for (int32_t t : seen)
      if (t >= 0 && t < n) z[t] = z[t] > 0 ? z[t] / p.repeat_penalty : z[t] * p.repeat_penalty;
  }
  if (p.greedy()) return {{argmax(z), 1.0f}};

  std::vector<std::pair<int32_t, float>> c(n);
  for (int32_t i = 0; i < n; ++i) c[i] = {i, z[i] / p.temperature};
  auto by_logit = [](const auto& a, const auto& b) {
    return a.second > b.second || (a.second == b.second && a.first < b.first);
  };
  if (p.top_k > 0 && p.top_k < n) {
    std::partial_sort(c.begin(), c.begin() + p.top_k, c.end(), by_logit);
    c.resize(p.top_k);
  } else {
    std::sort(c.begin(), c.end(), by_logit);
  }
  // Softmax over the survivors (sorted, so c[0] holds the maximum).
  const float mx = c[0].second;
  double sum = 0;
  for (auto& e : c) sum += (e.second = std::exp(e.second - mx));
  for (auto& e : c) e.second = static_cast<float>(e.second / sum);
  if (p.top_p < 1.0f) {
    double mass = 0;
    size_t keep = 0;
    while (keep < c.size() && mass < p.top_p) mass += c[keep++].second;
    c.resize(std::max<size_t>(keep, 1));
  }
  if (p.min_p > 0.0f) {
    const float threshold = p.min_p * c[0].second;
    size_t keep = 1;
    while (keep < c.size() && c[keep].second >= threshold) ++keep;
    c.resize(keep);
  }
  double total = 0;
  for (const auto& e : c) total += e.second;
  for (auto& e : c) e.second = static_cast<float>(e.second / total);
  return c;
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
  if (logits.empty()) fail("cannot sample from an empty logit vector");
  const auto dist = distribution(logits, history);
  if (dist.size() == 1) return dist[0].first;
  double u = rng_.uniform();
  for (const auto& [token, prob] : dist) {
    if (u < prob) return token;
    u -= prob;
  }
  return dist.back().first;  // rounding left a sliver of mass: the least likely survivor
}

}  // namespace tandem
