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
  }
  // Softmax over the survivors.
  float mx = c[0].second;
  for (const auto& e : c) mx = std::max(mx, e.second);
  double sum = 0;
  for (auto& e : c) sum += (e.second = std::exp(e.second - mx));
  for (auto& e : c) e.second = static_cast<float>(e.second / sum);
  // min-p keeps the tokens at or above a fraction of the top probability: filter first, so
  // only the survivors need sorting (large vocabularies make a full sort the dominant cost).
  if (p.min_p > 0.0f) {
    const float threshold = p.min_p * static_cast<float>(1.0 / sum);  // top token: exp(0) / sum
    std::erase_if(c, [&](const auto& e) { return e.second < threshold; });
  }
  // Most probable first. top-p keeps the shortest such prefix whose mass reaches p, so sort a
  // growing prefix until it does instead of the whole vocabulary.
  size_t sorted = std::min<size_t>(c.size(), 64);
  for (;;) {
    std::partial_sort(c.begin(), c.begin() + sorted, c.end(), by_logit);
    if (sorted == c.size()) break;
    double mass = 0;
    for (size_t i = 0; i < sorted; ++i) mass += c[i].second;
    if (p.top_p < 1.0f && mass >= p.top_p) break;
    sorted = std::min(c.size(), sorted * 4);
  }
  if (p.top_p < 1.0f) {
    double mass = 0;
    size_t keep = 0;
    while (keep < sorted && mass < p.top_p) mass += c[keep++].second;
    c.resize(std::max<size_t>(keep, 1));
  }
  double total = 0;
  for (const auto& e : c) total += e.second;
  for (auto& e : c) e.second = static_cast<float>(e.second / total);
  return c;
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
  if (logits.empty()) fail("cannot sample from an empty logit vector");
  const SamplingParams& p = params_;
  const bool filtered = (p.top_k > 0 && p.top_k < static_cast<int>(logits.size())) ||
                        p.top_p < 1.0f || p.min_p > 0.0f || p.repeat_penalty != 1.0f;
  if (!p.greedy() && !filtered) {
    // Plain temperature: the full softmax, drawn in token order (the same distribution as
    // distribution()'s, without sorting the vocabulary).
    const float inv_t = 1.0f / p.temperature;
    const float mx = *std::max_element(logits.begin(), logits.end()) * inv_t;
    double sum = 0;
    for (float l : logits) sum += std::exp(l * inv_t - mx);
    double u = rng_.uniform() * sum;
    for (size_t i = 0; i < logits.size(); ++i) {
      const double w = std::exp(logits[i] * inv_t - mx);
      if (u < w) return static_cast<int32_t>(i);
      u -= w;
    }
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
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
