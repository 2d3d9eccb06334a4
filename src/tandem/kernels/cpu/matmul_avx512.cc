// AVX-512 (F + BW + VL) row kernel for F16 weights at decode (n_tokens = 1);
// everything else, and several tokens, use the AVX2 kernels, which AVX-512
// machines run as well. The AVX2 Q8_0/Q4_0 decode tiles (four rows at once, L2
// prefetch) reached 92 % of the memory roofline on an AVX-512 host where
// one-row AVX-512 Q8_0/Q4_0 kernels reached 49 % (bench/results/
// decode_roofline_avx512_host.json), so those were removed rather than kept
// slower than the fallback.
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

}  // namespace

const MatmulTable& avx512_matmul_table() {
  static const MatmulTable t = [] {
    MatmulTable m = avx2_matmul_table();
    m.f16 = rows_tiled<F16Row, &MatmulTable::f16>;
    return m;
  }();
  return t;
}

}  // namespace tandem::kernels::detail
