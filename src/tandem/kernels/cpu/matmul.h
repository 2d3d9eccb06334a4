// Matrix multiplication of a (quantised) weight matrix with f32 activations.
//
// Contract: `w` is row-major: w.rows rows of row_bytes(w.type, w.cols) bytes
// (shape (rows, cols), the GGUF layout of a linear layer), borrowed. x is
// (n_tokens, w.cols) f32, out is (n_tokens, w.rows) f32:
//   out[t * w.rows + r] = sum_c W[r, c] * x[t * w.cols + c]
// Weight types: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K; cols must be a multiple
// of the block size (tandem::Error otherwise). A packed view (layout kQ4_0x8,
// kQ8_0x8 or kHalfx4, see cpu/packed.h) holds the same values in a decode-friendly order.
// Activations are converted once per call to the weight type's dot format: Q8_0 blocks for
// Q8_0/Q4_0 weights, Q8_K for Q4_K/Q6_K (this adds ~0.5 % relative rounding error versus f32), f32
// for the float types. Conversion scratch is a grow-only buffer of the calling thread. Rows are
// split into chunks handed to the pool's threads (one dispatch per call); results do not depend on
// the thread count. Several tokens are computed in groups of 4 against register tiles of weight
// rows, the last group partial, so n tokens cost about ceil(n / 4) four-token groups (no per-token
// remainder path). Why hand-written intrinsics (cpu/matmul_avx2.cc, matmul_avx512.cc): the integer
// dot products are only fast with an exact instruction sequence (u8 x s8 -> maddubs, pairwise madd,
// one float scale per block), which compilers do not find from scalar code, and the tile shapes
// decide whether prompt processing is compute- or memory-bound. Thread safety: calls may run
// concurrently on different pools; a pool may be used by one call at a time (see ThreadPool).
#pragma once

#include <cstdint>
#include <span>

#include "tandem/base/thread_pool.h"
#include "tandem/tensor/dtype.h"

namespace tandem::kernels {

// How a matrix's blocks are arranged: kRows is the GGUF file's row-major order;
// the others are load-time rearrangements (cpu/packed.h) with the same bytes.
enum class Layout : uint8_t { kRows, kQ4_0x8, kQ8_0x8, kHalfx4 };

struct MatView {
  DType type;
  const void* data;
  int64_t rows;
  int64_t cols;
  Layout layout = Layout::kRows;
};

void matmul(const MatView& w, const float* x, int64_t n_tokens, float* out, ThreadPool& pool,
            std::span<const MatView> next = {});

// Several weights with the same cols sharing one input (Q,K,V or gate,up): the
// input is converted once and all matrices are done in one pool dispatch.
// outs[i] is (n_tokens, ws[i].rows).
// `next`, when given, names the matrices of the caller's next matmul call: each
// thread that has finished its share of this call prefetches the start of its
// share of those into L2, so memory stays busy through the end of the call and
// the small operators between the two. Only speed depends on it.
void matmul_multi(std::span<const MatView> ws, const float* x, int64_t n_tokens,
                  std::span<float* const> outs, ThreadPool& pool,
                  std::span<const MatView> next = {});

// Scalar reference: dequantises each row, accumulates in double, no activation
// quantisation. Slow; for tests.
void matmul_reference(const MatView& w, const float* x, int64_t n_tokens, float* out);

}  // namespace tandem::kernels
