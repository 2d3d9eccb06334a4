// Scalar row kernels: the portable fallback and the test reference for the SIMD
// kernels. Same activation quantisation as the SIMD paths; integer dot products
// are exact and block contributions are summed in double.
#include <cmath>
#include <type_traits>

#include "tandem/kernels/cpu/matmul_internal.h"
#include "tandem/kernels/cpu/packed.h"
#include "tandem/tensor/half.h"
#include "tandem/tensor/quantize.h"

namespace tandem::kernels::detail {
namespace {

const unsigned char* row_ptr(const MatView& w, int64_t r) {
  return static_cast<const unsigned char*>(w.data) + r * row_bytes(w.type, w.cols);
}

// Row r's first element in the packed kHalfx4 layout (cpu/packed.h).
const unsigned char* halfx4_row_ptr(const MatView& w, int64_t r) {
  return static_cast<const unsigned char*>(w.data) + 2 * halfx4_row_start(r, w.cols);
}

template <float (*Load)(const void*, int64_t),
          const unsigned char* (*RowPtr)(const MatView&, int64_t) = row_ptr>
void rows_float(const MatView& w, const Activations& a, int64_t n_tokens, int64_t r0, int64_t r1,
                float* out) {
  for (int64_t r = r0; r < r1; ++r) {
    const unsigned char* wr = RowPtr(w, r);
    for (int64_t t = 0; t < n_tokens; ++t) {
      const float* x = a.f32 + t * a.cols;
      double acc = 0;
      for (int64_t c = 0; c < a.cols; ++c) acc += double(Load(wr, c)) * x[c];
      out[t * w.rows + r] = static_cast<float>(acc);
    }
  }
}
float load_f32(const void* p, int64_t i) {
  return static_cast<const float*>(p)[i];
}
float load_f16(const void* p, int64_t i) {
  return f16_to_f32(static_cast<const uint16_t*>(p)[i]);
}
float load_f16x4(const void* p, int64_t i) {
  return f16_to_f32(static_cast<const uint16_t*>(p)[halfx4_offset(i)]);
}
float load_bf16x4(const void* p, int64_t i) {
  return bf16_to_f32(static_cast<const uint16_t*>(p)[halfx4_offset(i)]);
}
float load_bf16(const void* p, int64_t i) {
  return bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
}

// One loop over rows and tokens for every block-quantised type: Dot(w, x, d_x)
// returns one weight block's contribution against one activation block, where
// d_x is the Q8_0 activation scale (K-quant activations carry their own).
template <class WBlock, class XBlock, int64_t kBlock,
          double (*Dot)(const WBlock&, const XBlock&, float)>
void rows_blocks(const MatView& w, const Activations& a, int64_t n_tokens, int64_t r0, int64_t r1,
                 float* out) {
  const int64_t nb = a.cols / kBlock;
  const XBlock* x_all;
  if constexpr (std::is_same_v<XBlock, BlockQ8_0>)
    x_all = a.q8_0;
  else
    x_all = a.q8_k;
  for (int64_t r = r0; r < r1; ++r) {
    const auto* wb = reinterpret_cast<const WBlock*>(row_ptr(w, r));
    for (int64_t t = 0; t < n_tokens; ++t) {
      const XBlock* xb = x_all + t * nb;
      double acc = 0;
      for (int64_t b = 0; b < nb; ++b) {
        const float dx = std::is_same_v<XBlock, BlockQ8_0> ? a.q8_0_d[t * nb + b] : 0.0f;
        acc += Dot(wb[b], xb[b], dx);
      }
      out[t * w.rows + r] = static_cast<float>(acc);
    }
  }
}

double dot_q8_0(const BlockQ8_0& w, const BlockQ8_0& x, float dx) {
  int isum = 0;
  for (int j = 0; j < kQK; ++j) isum += w.qs[j] * x.qs[j];
  return double(f16_to_f32(w.d) * dx) * isum;
}

double dot_q4_0(const BlockQ4_0& w, const BlockQ8_0& x, float dx) {
  int isum = 0;
  for (int j = 0; j < 16; ++j) {
    isum += ((w.qs[j] & 15) - 8) * x.qs[j];
    isum += ((w.qs[j] >> 4) - 8) * x.qs[j + 16];
  }
  return double(f16_to_f32(w.d) * dx) * isum;
}

// The packed layouts hold the same blocks: the same dot, block by block.
template <class WBlock, WBlock (*Get)(const MatView&, int64_t, int64_t),
          double (*Dot)(const WBlock&, const BlockQ8_0&, float)>
void rows_packed(const MatView& w, const Activations& a, int64_t n_tokens, int64_t r0, int64_t r1,
                 float* out) {
  const int64_t nb = a.cols / kQK;
  for (int64_t r = r0; r < r1; ++r) {
    for (int64_t t = 0; t < n_tokens; ++t) {
      double acc = 0;
      for (int64_t b = 0; b < nb; ++b)
        acc += Dot(Get(w, r, b), a.q8_0[t * nb + b], a.q8_0_d[t * nb + b]);
      out[t * w.rows + r] = static_cast<float>(acc);
    }
  }
}

double dot_q4_k(const BlockQ4_K& w, const BlockQ8_K& x, float) {
  int64_t sum_q = 0, sum_m = 0;
  for (int s = 0; s < 8; ++s) {
    uint8_t sc, m;
    q4k_scale_min(w.scales, s, &sc, &m);
    int isum = 0;
    for (int l = 0; l < 32; ++l)
      isum += ((w.qs[32 * (s / 2) + l] >> (4 * (s & 1))) & 15) * x.qs[32 * s + l];
    sum_q += int64_t{sc} * isum;
    sum_m += int64_t{m} * (x.bsums[2 * s] + x.bsums[2 * s + 1]);
  }
  return double(x.d) *
         (double(f16_to_f32(w.d)) * double(sum_q) - double(f16_to_f32(w.dmin)) * double(sum_m));
}

double dot_q6_k(const BlockQ6_K& w, const BlockQ8_K& x, float) {
  int64_t isum = 0;
  for (int e = 0; e < kQKK; ++e) {
    const int h = e / 128, g = (e % 128) / 32, l = e % 32;
    const int lo = (w.ql[64 * h + 32 * (g & 1) + l] >> (g < 2 ? 0 : 4)) & 15;
    const int hi = (w.qh[32 * h + l] >> (2 * g)) & 3;
    isum += int64_t{w.scales[e / 16]} * ((lo | (hi << 4)) - 32) * x.qs[e];
  }
  return double(x.d) * double(f16_to_f32(w.d)) * double(isum);
}

}  // namespace

void quantize_q8_0_scalar(const float* x, int64_t n, BlockQ8_0* y, float* d, float* s) {
  quantize_row(DType::Q8_0, x, y, n);
  for (int64_t b = 0; b < n / kQK; ++b) {
    d[b] = f16_to_f32(y[b].d);
    int sum = 0;
    for (int j = 0; j < kQK; ++j) sum += y[b].qs[j];
    s[b] = d[b] * static_cast<float>(sum);
  }
}

const MatmulTable& scalar_matmul_table() {
  static const MatmulTable t{rows_float<load_f32>,
                             rows_float<load_f16>,
                             rows_float<load_bf16>,
                             rows_blocks<BlockQ8_0, BlockQ8_0, kQK, dot_q8_0>,
                             rows_blocks<BlockQ4_0, BlockQ8_0, kQK, dot_q4_0>,
                             rows_blocks<BlockQ4_K, BlockQ8_K, kQKK, dot_q4_k>,
                             rows_blocks<BlockQ6_K, BlockQ8_K, kQKK, dot_q6_k>,
                             rows_packed<BlockQ4_0, packed_block_q4_0, dot_q4_0>,
                             rows_packed<BlockQ8_0, packed_block_q8_0, dot_q8_0>,
                             rows_float<load_f16x4, halfx4_row_ptr>,
                             rows_float<load_bf16x4, halfx4_row_ptr>,
                             quantize_q8_0_scalar};
  return t;
}

}  // namespace tandem::kernels::detail
