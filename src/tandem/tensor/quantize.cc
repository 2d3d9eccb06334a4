#include "tandem/tensor/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "tandem/base/error.h"
#include "tandem/tensor/blocks.h"
#include "tandem/tensor/half.h"

namespace tandem {
namespace {

int nearest(float v) {
  return static_cast<int>(std::nearbyint(v));
}

void check_len(DType t, int64_t n) {
  const int64_t b = dtype_info(t).block_elems;
  if (n < 0 || n % b != 0)
    fail("{} row of {} elements: length must be a multiple of the block size {}", dtype_name(t), n,
         b);
}

// ---- Q8_0 / Q4_0 -----------------------------------------------------------

void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    float amax = 0;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.f;
    const float id = amax != 0 ? 127.f / amax : 0.f;
    y[i].d = f32_to_f16(d);
    for (int j = 0; j < kQK; ++j) y[i].qs[j] = static_cast<int8_t>(nearest(x[j] * id));
  }
}

void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    float amax = 0, max = 0;
    for (int j = 0; j < kQK; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8.f;
    const float id = d != 0 ? 1.f / d : 0.f;
    y[i].d = f32_to_f16(d);
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = std::clamp(static_cast<int>(std::floor(x[j] * id + 8.5f)), 0, 15);
      const int hi = std::clamp(static_cast<int>(std::floor(x[j + 16] * id + 8.5f)), 0, 15);
      y[i].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

// ---- Q4_K ------------------------------------------------------------------

// Fits x[0..n) ~ a * q - m with q in [0, nmax], a >= 0, m >= 0, trying a range of
// grid scales and refining each by least squares; returns a and sets *m.
float fit_scale_min(const float* x, int n, int nmax, float* m_out) {
  float lo = 0, hi = x[0];
  for (int i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  if (hi <= lo) {
    *m_out = -lo;
    return 0;
  }
  float best_err = INFINITY, best_a = (hi - lo) / nmax, best_b = lo;
  for (int k = -10; k <= 10; ++k) {
    const float iscale = (nmax + 0.1f * k) / (hi - lo);
    double sl = 0, sl2 = 0, sx = 0, slx = 0;
    int L[kQKK];
    for (int i = 0; i < n; ++i) {
      L[i] = std::clamp(nearest(iscale * (x[i] - lo)), 0, nmax);
      sl += L[i];
      sl2 += double(L[i]) * L[i];
      sx += x[i];
      slx += double(L[i]) * x[i];
    }
    const double det = n * sl2 - sl * sl;
    if (det <= 0) continue;
    double a = (n * slx - sl * sx) / det;
    double b = (sl2 * sx - sl * slx) / det;
    if (b > 0) {  // the offset must be a non-positive min
      b = 0;
      a = slx / sl2;
    }
    if (a < 0) continue;
    float err = 0;
    for (int i = 0; i < n; ++i) {
      const float e = float(a) * L[i] + float(b) - x[i];
      err += e * e;
    }
    if (err < best_err) {
      best_err = err;
      best_a = float(a);
      best_b = float(b);
    }
  }
  *m_out = -best_b;
  return best_a;
}

void quantize_q4_k(const float* x, BlockQ4_K* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQKK) {
    float a[8], m[8], amax = 0, mmax = 0;
    for (int s = 0; s < 8; ++s) {
      a[s] = fit_scale_min(x + 32 * s, 32, 15, &m[s]);
      amax = std::max(amax, a[s]);
      mmax = std::max(mmax, m[s]);
    }
    BlockQ4_K& b = y[i];
    std::memset(&b, 0, sizeof b);
    b.d = f32_to_f16(amax / 63.f);
    b.dmin = f32_to_f16(mmax / 63.f);
    const float d = f16_to_f32(b.d), dmin = f16_to_f32(b.dmin);
    for (int s = 0; s < 8; ++s) {
      const int sc = d > 0 ? std::clamp(nearest(a[s] / d), 0, 63) : 0;
      const int mi = dmin > 0 ? std::clamp(nearest(m[s] / dmin), 0, 63) : 0;
      q4k_set_scale_min(b.scales, s, static_cast<uint8_t>(sc), static_cast<uint8_t>(mi));
      const float step = d * sc, off = dmin * mi;
      for (int l = 0; l < 32; ++l) {
        const int q = step > 0 ? std::clamp(nearest((x[32 * s + l] + off) / step), 0, 15) : 0;
        b.qs[32 * (s / 2) + l] |= static_cast<uint8_t>(q << (4 * (s & 1)));
      }
    }
  }
}

// ---- Q6_K ------------------------------------------------------------------

// Fits x[0..n) ~ a * q with q in [-32, 31] (signed a); grid over scales, least squares.
float fit_scale_q6(const float* x, int n) {
  float amax = 0, max = 0;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  if (amax == 0) return 0;
  float best = -1, best_a = max / -32.f;
  for (int k = -10; k <= 10; ++k) {
    const float iscale = -(32.f + 0.1f * k) / max;
    double slx = 0, sl2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest(iscale * x[i]), -32, 31);
      slx += double(l) * x[i];
      sl2 += double(l) * l;
    }
    if (sl2 == 0) continue;
    const double gain = slx * slx / sl2;  // error = sum x^2 - gain
    if (gain > best) {
      best = float(gain);
      best_a = float(slx / sl2);
    }
  }
  return best_a;
}

void quantize_q6_k(const float* x, BlockQ6_K* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQKK) {
    float a[16], amax = 0;
    for (int g = 0; g < 16; ++g) {
      a[g] = fit_scale_q6(x + 16 * g, 16);
      amax = std::max(amax, std::fabs(a[g]));
    }
    BlockQ6_K& b = y[i];
    std::memset(&b, 0, sizeof b);
    b.d = f32_to_f16(amax / 127.f);
    const float d = f16_to_f32(b.d);
    for (int g = 0; g < 16; ++g)
      b.scales[g] = static_cast<int8_t>(d > 0 ? std::clamp(nearest(a[g] / d), -127, 127) : 0);
    for (int e = 0; e < kQKK; ++e) {
      const float step = d * b.scales[e / 16];
      const int q = (step != 0 ? std::clamp(nearest(x[e] / step), -32, 31) : 0) + 32;
      const int h = e / 128, g = (e % 128) / 32, l = e % 32;
      b.ql[64 * h + 32 * (g & 1) + l] |= static_cast<uint8_t>((q & 15) << (g < 2 ? 0 : 4));
      b.qh[32 * h + l] |= static_cast<uint8_t>((q >> 4) << (2 * g));
    }
  }
}

void quantize_q8_k(const float* x, BlockQ8_K* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQKK) {
    float amax = 0;
    for (int j = 0; j < kQKK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float id = amax != 0 ? 127.f / amax : 0.f;
    y[i].d = amax / 127.f;
    for (int j = 0; j < kQKK; ++j)
      y[i].qs[j] = static_cast<int8_t>(std::clamp(nearest(x[j] * id), -127, 127));
    for (int g = 0; g < 16; ++g) {
      int s = 0;
      for (int l = 0; l < 16; ++l) s += y[i].qs[16 * g + l];
      y[i].bsums[g] = static_cast<int16_t>(s);
    }
  }
}

}  // namespace

void dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  check_len(t, n);
  const int64_t nb = n / dtype_info(t).block_elems;
  switch (t) {
    case DType::F32:
      std::memcpy(dst, src, n * sizeof(float));
      return;
    case DType::F16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
      return;
    }
    case DType::BF16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    case DType::Q8_0: {
      const auto* b = static_cast<const BlockQ8_0*>(src);
      for (int64_t i = 0; i < nb; ++i) {
        const float d = f16_to_f32(b[i].d);
        for (int j = 0; j < kQK; ++j) dst[i * kQK + j] = d * b[i].qs[j];
      }
      return;
    }
    case DType::Q4_0: {
      const auto* b = static_cast<const BlockQ4_0*>(src);
      for (int64_t i = 0; i < nb; ++i) {
        const float d = f16_to_f32(b[i].d);
        for (int j = 0; j < 16; ++j) {
          dst[i * kQK + j] = d * ((b[i].qs[j] & 15) - 8);
          dst[i * kQK + j + 16] = d * ((b[i].qs[j] >> 4) - 8);
        }
      }
      return;
    }
    case DType::Q4_K: {
      const auto* b = static_cast<const BlockQ4_K*>(src);
      for (int64_t i = 0; i < nb; ++i) {
        const float d = f16_to_f32(b[i].d), dmin = f16_to_f32(b[i].dmin);
        for (int s = 0; s < 8; ++s) {
          uint8_t sc, m;
          q4k_scale_min(b[i].scales, s, &sc, &m);
          for (int l = 0; l < 32; ++l) {
            const int q = (b[i].qs[32 * (s / 2) + l] >> (4 * (s & 1))) & 15;
            dst[i * kQKK + 32 * s + l] = d * sc * q - dmin * m;
          }
        }
      }
      return;
    }
    case DType::Q6_K: {
      const auto* b = static_cast<const BlockQ6_K*>(src);
      for (int64_t i = 0; i < nb; ++i) {
        const float d = f16_to_f32(b[i].d);
        for (int e = 0; e < kQKK; ++e) {
          const int h = e / 128, g = (e % 128) / 32, l = e % 32;
          const int lo = (b[i].ql[64 * h + 32 * (g & 1) + l] >> (g < 2 ? 0 : 4)) & 15;
          const int hi = (b[i].qh[32 * h + l] >> (2 * g)) & 3;
          dst[i * kQKK + e] = d * b[i].scales[e / 16] * ((lo | (hi << 4)) - 32);
        }
      }
      return;
    }
    case DType::Q8_K: {
      const auto* b = static_cast<const BlockQ8_K*>(src);
      for (int64_t i = 0; i < nb; ++i)
        for (int j = 0; j < kQKK; ++j) dst[i * kQKK + j] = b[i].d * b[i].qs[j];
      return;
    }
    default:
      fail("dequantize: type {} is not supported by tandem", dtype_name(t));
  }
}

void quantize_row(DType t, const float* src, void* dst, int64_t n) {
  check_len(t, n);
  const int64_t nb = n / dtype_info(t).block_elems;
  switch (t) {
    case DType::F32:
      std::memcpy(dst, src, n * sizeof(float));
      return;
    case DType::F16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = f32_to_f16(src[i]);
      return;
    }
    case DType::BF16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
      return;
    }
    case DType::Q8_0:
      return quantize_q8_0(src, static_cast<BlockQ8_0*>(dst), nb);
    case DType::Q4_0:
      return quantize_q4_0(src, static_cast<BlockQ4_0*>(dst), nb);
    case DType::Q4_K:
      return quantize_q4_k(src, static_cast<BlockQ4_K*>(dst), nb);
    case DType::Q6_K:
      return quantize_q6_k(src, static_cast<BlockQ6_K*>(dst), nb);
    case DType::Q8_K:
      return quantize_q8_k(src, static_cast<BlockQ8_K*>(dst), nb);
    default:
      fail("quantize: type {} is not supported by tandem", dtype_name(t));
  }
}

}  // namespace tandem
