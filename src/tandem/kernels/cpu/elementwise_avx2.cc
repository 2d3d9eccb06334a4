// AVX2 + FMA versions of the element-wise operators.
#include <immintrin.h>

#include <cmath>

#include "tandem/kernels/cpu/avx2_util.h"
#include "tandem/kernels/cpu/elementwise.h"

namespace tandem::kernels::detail {
namespace {

// exp(x) for x in [-87.3, 88.3] (clamped outside): x = n ln2 + r, |r| <= ln2/2,
// degree-6 Taylor polynomial for e^r (truncation < 2e-7 relative), times 2^n.
TANDEM_AVX2 inline __m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145752f), x);  // ln2 split hi/lo
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.42860677e-6f), r);
  __m256 p = _mm256_set1_ps(1.f / 720);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 120));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 24));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
  const __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

TANDEM_AVX2 float dot(const float* a, const float* b, int64_t n) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int k = 0; k < 4; ++k)
      acc[k] =
          _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8 * k), _mm256_loadu_ps(b + i + 8 * k), acc[k]);
  for (; i + 8 <= n; i += 8)
    acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc[0]);
  float s = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

TANDEM_AVX2 void add(const float* a, const float* b, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  for (; i < n; ++i) out[i] = a[i] + b[i];
}

TANDEM_AVX2 void rmsnorm(const float* x, const float* weight, float* out, int64_t n, float eps) {
  const float inv = 1.f / std::sqrt(dot(x, x, n) / static_cast<float>(n) + eps);
  const __m256 iv = _mm256_set1_ps(inv);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), iv),
                                            _mm256_loadu_ps(weight + i)));
  for (; i < n; ++i) out[i] = x[i] * inv * weight[i];
}

TANDEM_AVX2 void softmax(float* x, int64_t n) {
  if (n <= 0) return;
  __m256 mv = _mm256_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mv), _mm256_extractf128_ps(mv, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  float m = _mm_cvtss_f32(m4);
  for (; i < n; ++i) m = std::max(m, x[i]);
  const __m256 mb = _mm256_set1_ps(m);
  __m256 sv = _mm256_setzero_ps();
  for (i = 0; i + 8 <= n; i += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), mb));
    _mm256_storeu_ps(x + i, e);
    sv = _mm256_add_ps(sv, e);
  }
  float sum = hsum(sv);
  for (; i < n; ++i) sum += (x[i] = std::exp(x[i] - m));
  const float inv = 1.f / sum;
  const __m256 ib = _mm256_set1_ps(inv);
  for (i = 0; i + 8 <= n; i += 8)
    _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), ib));
  for (; i < n; ++i) x[i] *= inv;
}

TANDEM_AVX2 void swiglu(const float* gate, const float* up, float* out, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.f);
  const __m256 sign = _mm256_set1_ps(-0.f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 silu = _mm256_div_ps(g, _mm256_add_ps(one, exp8(_mm256_xor_ps(g, sign))));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) out[i] = gate[i] / (1.f + std::exp(-gate[i])) * up[i];
}

// Scores four positions at a time (one horizontal fold for four dot products),
// the max-subtracted softmax of the file, then the probability-weighted sum of
// the value rows in chunks of 64 dimensions held in eight accumulators.
TANDEM_AVX2 void attend(const float* q, const float* k, const float* v, int64_t n, int64_t stride,
                        int64_t head_dim, float scale, float* scores, float* out) {
  const int64_t hd8 = head_dim / 8 * 8;
  int64_t s = 0;
  for (; s + 4 <= n; s += 4) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    for (int64_t i = 0; i < hd8; i += 8) {
      const __m256 qv = _mm256_loadu_ps(q + i);
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j)
        acc[j] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k + (s + j) * stride + i), acc[j]);
    }
    const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(acc[0], acc[1]), _mm256_hadd_ps(acc[2], acc[3]));
    __m128 four = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    alignas(16) float f[4];
    _mm_store_ps(f, four);
    for (int j = 0; j < 4; ++j) {
      for (int64_t i = hd8; i < head_dim; ++i) f[j] += q[i] * k[(s + j) * stride + i];
      scores[s + j] = f[j] * scale;
    }
  }
  for (; s < n; ++s) {
    float f = 0;
    for (int64_t i = 0; i < head_dim; ++i) f += q[i] * k[s * stride + i];
    scores[s] = f * scale;
  }
  softmax(scores, n);
  int64_t c = 0;
  for (; c + 64 <= hd8; c += 64) {
    __m256 acc[8];
    for (__m256& a : acc) a = _mm256_setzero_ps();
    for (int64_t t = 0; t < n; ++t) {
      const __m256 p = _mm256_broadcast_ss(scores + t);
      const float* row = v + t * stride + c;
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) acc[j] = _mm256_fmadd_ps(p, _mm256_loadu_ps(row + 8 * j), acc[j]);
    }
    for (int j = 0; j < 8; ++j) _mm256_storeu_ps(out + c + 8 * j, acc[j]);
  }
  for (; c < hd8; c += 8) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t t = 0; t < n; ++t)
      acc = _mm256_fmadd_ps(_mm256_broadcast_ss(scores + t), _mm256_loadu_ps(v + t * stride + c),
                            acc);
    _mm256_storeu_ps(out + c, acc);
  }
  for (; c < head_dim; ++c) {
    float o = 0;
    for (int64_t t = 0; t < n; ++t) o += scores[t] * v[t * stride + c];
    out[c] = o;
  }
}

}  // namespace

const ElementwiseTable& avx2_elementwise_table() {
  static const ElementwiseTable t{rmsnorm, softmax, swiglu, attend, add};
  return t;
}

}  // namespace tandem::kernels::detail
