// Sampler — turns a logit vector into the next token: greedy, temperature,
// top-k, top-p (nucleus), min-p and repetition penalty, driven by a seeded RNG.
//
// Contract: processing order is fixed and documented because it changes the
// result: (1) repetition penalty over the last `repeat_last_n` tokens of the
// history (positive logits divided by the penalty, negative multiplied, each
// distinct token once), (2) temperature (logits / T; T <= 0 means greedy:
// argmax of the penalised logits, lowest id on ties), (3) top-k, (4) top-p —
// the smallest set of most probable tokens whose mass reaches p, (5) min-p —
// drop tokens whose probability is below min_p times the top probability, then
// renormalise and draw. distribution() returns exactly the distribution
// sample() draws from, so speculative decoding and tests can use it. Cost: no
// full sort of the vocabulary unless no filter applies and distribution() is
// asked for; sample() with temperature alone draws from the softmax in token order.
// The same seed and inputs give the same tokens on every run and platform (the
// RNG is a 64-bit SplitMix/xoshiro generator implemented here, not a
// library distribution whose algorithm may change).
// Thread safety: a Sampler holds RNG state: one per sequence, not shared.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "tandem/base/random.h"

namespace tandem {

struct SamplingParams {
  float temperature = 0.0f;     // <= 0: greedy
  int top_k = 0;                // <= 0: off
  float top_p = 1.0f;           // >= 1: off
  float min_p = 0.0f;           // <= 0: off
  float repeat_penalty = 1.0f;  // 1: off
  int repeat_last_n = 64;
  uint64_t seed = 0;

  bool greedy() const { return temperature <= 0.0f; }
  // Throws tandem::Error naming the bad parameter.
  void validate() const;
};

// A small, fast, reproducible RNG (xoshiro256** seeded through SplitMix64).
using Rng = Xoshiro256;

class Sampler {
 public:
  explicit Sampler(SamplingParams params);

  const SamplingParams& params() const { return params_; }
  int32_t sample(std::span<const float> logits, std::span<const int32_t> history = {});

  // The processed distribution as (token, probability) pairs, most probable
  // first, probabilities summing to 1. Greedy: a single pair with probability 1.
  std::vector<std::pair<int32_t, float>> distribution(std::span<const float> logits,
                                                      std::span<const int32_t> history = {}) const;
  Rng& rng() { return rng_; }

 private:
  SamplingParams params_;
  Rng rng_;
};

int32_t argmax(std::span<const float> logits);

}  // namespace tandem
