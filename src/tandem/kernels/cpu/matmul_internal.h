// Internal interface between matmul.cc (validation, activation conversion,
// threading) and the per-ISA row kernels (matmul_scalar/avx2/avx512.cc).
//
// Contract: a RowsFn computes out[t * w.rows + r] for r in [r0, r1) and every
// t < n_tokens from the prepared Activations; it allocates nothing and touches
// no other output. All tables share one activation quantisation (bit-identical
// across ISAs), so ISAs differ only in float summation order.
// Thread safety: the tables are immutable; RowsFns are called concurrently on
// disjoint row ranges.
#pragma once

#include <cstdint>

#include "tandem/kernels/cpu/isa.h"
#include "tandem/kernels/cpu/matmul.h"
#include "tandem/tensor/blocks.h"

namespace tandem::kernels::detail {

// Token groups of 4 keep their per-block scales interleaved so a 4-token tile
// loads them with one instruction.
inline constexpr int kTokenTile = 4;

struct Activations {
  int64_t cols;
  const float* f32;       // (n_tokens, cols): the input itself
  const BlockQ8_0* q8_0;  // (n_tokens, cols/32)
  const float* q8_0_d;    // (n_tokens, cols/32) f32 value of each block's d
  const float* q8_0_s;    // (n_tokens, cols/32) d * sum(qs) (Q4_0 offset correction)
  const float* q8_0_d4;   // (n_tokens/4, cols/32, 4) q8_0_d interleaved by token group
  const float* q8_0_s4;   // (n_tokens/4, cols/32, 4) q8_0_s interleaved by token group
  const BlockQ8_K* q8_k;  // (n_tokens, cols/256)
};

using RowsFn = void (*)(const MatView& w, const Activations& a, int64_t n_tokens, int64_t r0,
                        int64_t r1, float* out);

struct MatmulTable {
  RowsFn f32, f16, bf16, q8_0, q4_0, q4_k, q6_k;
  // One row of n (multiple of 32) floats -> Q8_0 blocks, their f32 d and d*sum(q).
  void (*quantize_q8_0)(const float* x, int64_t n, BlockQ8_0* y, float* d, float* s);
};

const MatmulTable& scalar_matmul_table();
const MatmulTable& avx2_matmul_table();
const MatmulTable& avx512_matmul_table();

// The scalar activation quantiser (the definition the SIMD ones must match bit for bit).
void quantize_q8_0_scalar(const float* x, int64_t n, BlockQ8_0* y, float* d, float* s);

}  // namespace tandem::kernels::detail
