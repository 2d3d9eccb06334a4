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

// Multi-token calls (n_tokens > 1) also get the Q8_0 activations regrouped by
// token groups of 4: block b of the group's 4 tokens is 128 contiguous, 64-byte
// aligned bytes, and their scales one 16-byte vector, so a tile of up to 4
// tokens loads its activations with aligned loads. The last group is padded
// with zero tokens (zero quants, zero scales), so a partial group needs no
// special layout.
inline constexpr int kTokenTile = 4;

struct Activations {
  int64_t cols;
  const float* f32;       // (n_tokens, cols): the input itself
  const BlockQ8_0* q8_0;  // (n_tokens, cols/32)
  const float* q8_0_d;    // (n_tokens, cols/32) f32 value of each block's d
  const float* q8_0_s;    // (n_tokens, cols/32) d * sum(qs) (Q4_0 offset correction)
  // Only for n_tokens > 1 with a row-major Q8_0 / Q4_0 matrix in the call (null
  // otherwise); groups = ceil(n_tokens / 4), padded.
  const int8_t* q8_0_x4;  // (groups, cols/32, 4, 32) quants interleaved by token group
  const float* q8_0_d4;   // (groups, cols/32, 4) q8_0_d interleaved by token group
  const float* q8_0_s4;   // (groups, cols/32, 4) q8_0_s interleaved by token group
  const BlockQ8_K* q8_k;  // (n_tokens, cols/256)
};

using RowsFn = void (*)(const MatView& w, const Activations& a, int64_t n_tokens, int64_t r0,
                        int64_t r1, float* out);

struct MatmulTable {
  RowsFn f32, f16, bf16, q8_0, q4_0, q4_k, q6_k;
  // Packed layouts (cpu/packed.h); r0 and r1 are multiples of 8.
  RowsFn q4_0x8, q8_0x8, f16x4, bf16x4;  // f16x4, bf16x4: kHalfx4
  // One row of n (multiple of 32) floats -> Q8_0 blocks, their f32 d and d*sum(q).
  void (*quantize_q8_0)(const float* x, int64_t n, BlockQ8_0* y, float* d, float* s);
};

const MatmulTable& scalar_matmul_table();
const MatmulTable& avx2_matmul_table();
const MatmulTable& avx512_matmul_table();

// The scalar activation quantiser (the definition the SIMD ones must match bit for bit).
void quantize_q8_0_scalar(const float* x, int64_t n, BlockQ8_0* y, float* d, float* s);

}  // namespace tandem::kernels::detail
