// AVX-512 (F + BW + VL) row kernels for F16, Q8_0 and Q4_0 weights; the other
// types use the AVX2 kernels. Same scheme as matmul_avx2.cc with twice the width:
// a zmm holds two consecutive 32-element blocks, so one maddubs/madd/convert/FMA
// covers 64 weights; the per-block scales form a [s_b x8 | s_b+1 x8] vector.
// The sign trick uses a mask (movepi8_mask + masked subtract) since AVX-512 has
// no vpsignb. These kernels serve decode (n_tokens = 1); several tokens go to the
// AVX2 register tiles (token groups of 4 with no remainder path, see
// matmul_avx2.cc), which AVX-512 machines run as well.
// GCC 12's AVX-512 headers trip -Wuninitialized on their own _mm512_undefined_*().
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "tandem/kernels/cpu/matmul_internal.h"
#include "tandem/tensor/half.h"

#define TANDEM_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

namespace tandem::kernels::detail {
namespace {

template <class K, RowsFn MatmulTable::*kMulti>
TANDEM_AVX512 void rows_tiled(const MatView& w, const Activations& a, int64_t n_tokens, int64_t r0,
                              int64_t r1, float* out) {
  if (n_tokens > 1) return (avx2_matmul_table().*kMulti)(w, a, n_tokens, r0, r1, out);
  const int64_t rb = row_bytes(w.type, w.cols);
  const auto* base = static_cast<const unsigned char*>(w.data);
  for (int64_t r = r0; r < r1; ++r) K::template row<1>(base + r * rb, a, 0, &out[r]);
}

TANDEM_AVX512 inline __m512i two_blocks(const int8_t* a, const int8_t* b) {
  return _mm512_inserti64x4(
      _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a))),
      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b)), 1);
}

// [s0 x8 | s1 x8]
TANDEM_AVX512 inline __m512 two_scales(float s0, float s1) {
  return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_set1_ps(s0)),
                                             _mm256_castps_pd(_mm256_set1_ps(s1)), 1));
}

TANDEM_AVX512 inline float f16(uint16_t h) {
  return _cvtsh_ss(h);
}

TANDEM_AVX512 inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

struct F16Row {
  template <int T>
  static TANDEM_AVX512 void row(const unsigned char* wr, const Activations& a, int64_t t0,
                                float* res) {
    constexpr int U = T == 1 ? 4 : 2;
    const auto* w = reinterpret_cast<const uint16_t*>(wr);
    const int64_t n = a.cols;
    const float* x[T];
    for (int i = 0; i < T; ++i) x[i] = a.f32 + (t0 + i) * n;
    __m512 acc[U][T];
#pragma GCC unroll 16
    for (int u = 0; u < U; ++u)
#pragma GCC unroll 16
      for (int i = 0; i < T; ++i) acc[u][i] = _mm512_setzero_ps();
    int64_t c = 0;
    for (; c + 16 * U <= n; c += 16 * U) {
#pragma GCC unroll 16
      for (int u = 0; u < U; ++u) {
        const __m512 wv =
            _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + c + 16 * u)));
#pragma GCC unroll 16
        for (int i = 0; i < T; ++i)
          acc[u][i] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x[i] + c + 16 * u), acc[u][i]);
      }
    }
    for (; c + 16 <= n; c += 16) {
      const __m512 wv =
          _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + c)));
      for (int i = 0; i < T; ++i)
        acc[0][i] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x[i] + c), acc[0][i]);
    }
    for (int i = 0; i < T; ++i) {
      __m512 s = acc[0][i];
      for (int u = 1; u < U; ++u) s = _mm512_add_ps(s, acc[u][i]);
      float r = _mm512_reduce_add_ps(s);
      for (int64_t cc = c; cc < n; ++cc) r += f16_to_f32(w[cc]) * x[i][cc];
      res[i] = r;
    }
  }
};

struct Q8_0Row {
  template <int T>
  static TANDEM_AVX512 void row(const unsigned char* wr, const Activations& a, int64_t t0,
                                float* res) {
    const auto* w = reinterpret_cast<const BlockQ8_0*>(wr);
    const int64_t nb = a.cols / kQK;
    const BlockQ8_0* x = a.q8_0 + t0 * nb;
    const float* xd = a.q8_0_d + t0 * nb;
    const __m512i ones = _mm512_set1_epi16(1);
    __m512 acc[T];
    for (int i = 0; i < T; ++i) acc[i] = _mm512_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
      const __m512i wv = two_blocks(w[b].qs, w[b + 1].qs);
      const __m512i aw = _mm512_abs_epi8(wv);
      const __mmask64 neg = _mm512_movepi8_mask(wv);
      const float dw0 = f16(w[b].d), dw1 = f16(w[b + 1].d);
#pragma GCC unroll 4
      for (int i = 0; i < T; ++i) {
        const __m512i xv = two_blocks(x[i * nb + b].qs, x[i * nb + b + 1].qs);
        const __m512i xs = _mm512_mask_sub_epi8(xv, neg, _mm512_setzero_si512(), xv);
        const __m512i p = _mm512_madd_epi16(_mm512_maddubs_epi16(aw, xs), ones);
        acc[i] =
            _mm512_fmadd_ps(_mm512_cvtepi32_ps(p),
                            two_scales(dw0 * xd[i * nb + b], dw1 * xd[i * nb + b + 1]), acc[i]);
      }
    }
    for (int i = 0; i < T; ++i) {
      float r = _mm512_reduce_add_ps(acc[i]);
      if (b < nb) {  // odd block count: last block at 256 bits
        const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs));
        const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i * nb + b].qs));
        const __m256i p =
            _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(wv), _mm256_sign_epi8(xv, wv)),
                              _mm256_set1_epi16(1));
        r += hsum256(_mm256_cvtepi32_ps(p)) * (f16(w[b].d) * xd[i * nb + b]);
      }
      res[i] = r;
    }
  }
};

struct Q4_0Row {
  template <int T>
  static TANDEM_AVX512 void row(const unsigned char* wr, const Activations& a, int64_t t0,
                                float* res) {
    const auto* w = reinterpret_cast<const BlockQ4_0*>(wr);
    const int64_t nb = a.cols / kQK;
    const BlockQ8_0* x = a.q8_0 + t0 * nb;
    const float* xd = a.q8_0_d + t0 * nb;
    const float* xs = a.q8_0_s + t0 * nb;
    const __m512i ones = _mm512_set1_epi16(1);
    const __m512i m4 = _mm512_set1_epi8(15);
    __m512 acc[T];
    float corr[T];
    for (int i = 0; i < T; ++i) acc[i] = _mm512_setzero_ps(), corr[i] = 0;
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
      const __m128i v0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].qs));
      const __m128i v1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b + 1].qs));
      __m512i q = _mm512_castsi128_si512(v0);
      q = _mm512_inserti32x4(q, _mm_srli_epi16(v0, 4), 1);
      q = _mm512_inserti32x4(q, v1, 2);
      q = _mm512_inserti32x4(q, _mm_srli_epi16(v1, 4), 3);
      q = _mm512_and_si512(q, m4);
      const float dw0 = f16(w[b].d), dw1 = f16(w[b + 1].d);
#pragma GCC unroll 4
      for (int i = 0; i < T; ++i) {
        const __m512i xv = two_blocks(x[i * nb + b].qs, x[i * nb + b + 1].qs);
        const __m512i p = _mm512_madd_epi16(_mm512_maddubs_epi16(q, xv), ones);
        acc[i] =
            _mm512_fmadd_ps(_mm512_cvtepi32_ps(p),
                            two_scales(dw0 * xd[i * nb + b], dw1 * xd[i * nb + b + 1]), acc[i]);
        corr[i] += dw0 * xs[i * nb + b] + dw1 * xs[i * nb + b + 1];
      }
    }
    for (int i = 0; i < T; ++i) {
      float r = _mm512_reduce_add_ps(acc[i]);
      if (b < nb) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].qs));
        const __m256i q =
            _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(15));
        const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i * nb + b].qs));
        const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(q, xv), _mm256_set1_epi16(1));
        const float dw = f16(w[b].d);
        r += hsum256(_mm256_cvtepi32_ps(p)) * (dw * xd[i * nb + b]);
        corr[i] += dw * xs[i * nb + b];
      }
      res[i] = r - 8.f * corr[i];
    }
  }
};

}  // namespace

const MatmulTable& avx512_matmul_table() {
  static const MatmulTable t = [] {
    MatmulTable m = avx2_matmul_table();
    m.f16 = rows_tiled<F16Row, &MatmulTable::f16>;
    m.q8_0 = rows_tiled<Q8_0Row, &MatmulTable::q8_0>;
    m.q4_0 = rows_tiled<Q4_0Row, &MatmulTable::q4_0>;
    return m;
  }();
  return t;
}

}  // namespace tandem::kernels::detail
