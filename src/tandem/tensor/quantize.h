// Reference (scalar) quantisation and dequantisation of rows.
//
// Contract: `n` is the number of elements and must be a multiple of the type's
// block size (tandem::Error otherwise). dequantize_row handles every type with
// dtype_info(t).computable plus Q8_K; quantize_row handles F32, F16, BF16, Q8_0,
// Q4_0, Q4_K, Q6_K and Q8_K. src/dst are caller-owned, row_bytes(t, n) bytes on
// the quantised side. Quantisers are deterministic (same input -> same bytes).
//   Q8_0 / Q8_K: d = absmax / 127, q = round-to-nearest-even(x / d)
//   Q4_0:        d = m / -8 where m is the element of largest magnitude, q = floor(x/d + 8.5)
//   Q4_K / Q6_K: per-sub-block scale (and min) search minimising squared error,
//                then 6-/8-bit quantisation of the scales and a final re-rounding.
// Thread safety: pure functions.
#pragma once

#include <cstdint>

#include "tandem/tensor/dtype.h"

namespace tandem {

void dequantize_row(DType t, const void* src, float* dst, int64_t n);
void quantize_row(DType t, const float* src, void* dst, int64_t n);

}  // namespace tandem
