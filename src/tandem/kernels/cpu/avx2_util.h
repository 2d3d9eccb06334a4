// Small AVX2 helpers shared by the AVX2 kernel files (and by the AVX-512 file,
// whose functions may inline them: their target is a subset of its own).
// TANDEM_AVX2 is the target attribute of every AVX2 kernel function, so one
// binary built for baseline x86-64 carries them and dispatches at run time.
//
// Thread safety: stateless.
#pragma once

#include <immintrin.h>

#include <cstdint>

#define TANDEM_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace tandem::kernels::detail {

// The sum of the 8 lanes.
TANDEM_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Four token sums folded into lanes: returns [t0 t1 t2 t3 | t0 t1 t2 t3] partials.
TANDEM_AVX2 inline __m256i fold4(__m256i p0, __m256i p1, __m256i p2, __m256i p3) {
  return _mm256_hadd_epi32(_mm256_hadd_epi32(p0, p1), _mm256_hadd_epi32(p2, p3));
}

// res[0..3] = the two halves of acc added, minus sub.
TANDEM_AVX2 inline void store4(__m256 acc, __m128 sub, float* res) {
  __m128 r = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  _mm_storeu_ps(res, _mm_sub_ps(r, sub));
}

TANDEM_AVX2 inline __m256i load32(const int8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

}  // namespace tandem::kernels::detail
