// Small probability helpers shared by the strategies: softmax queries on raw
// logits, dense views of Sampler::distribution(), and categorical draws with a
// given Rng. Pure functions; thread-safe as long as the Rng is not shared.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "tandem/sampling/sampler.h"

namespace tandem::decode {

using Distribution = std::vector<std::pair<int32_t, float>>;

// Largest probability of softmax(logits) (temperature 1, no processing).
float softmax_max(std::span<const float> logits);
// softmax(logits)[token] (temperature 1, no processing).
float softmax_prob(std::span<const float> logits, int32_t token);
// (n_vocab) probabilities: zero outside the distribution.
std::vector<float> dense(const Distribution& d, int64_t n_vocab);
// A draw from a distribution (probabilities summing to ~1) / from non-negative
// weights (normalised here; must not all be zero).
int32_t draw(const Distribution& d, Rng& rng);
int32_t draw(std::span<const float> weights, Rng& rng);

}  // namespace tandem::decode
