// splitmix64 — the 64-bit mixing step used to expand a seed into random bits
// (the synthetic-weight generator, the sampler's RNG seeding). Pure function
// of the state it advances; no shared state.
#pragma once

#include <cstdint>

namespace tandem {

inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace tandem
