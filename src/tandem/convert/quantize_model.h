// quantize_model — re-encodes the tensors of a GGUF model in another type.
//
// Contract: every metadata key of `in` is copied (general.file_type updated);
// every tensor is written in the order of `in` with the type choose_type()
// picks (target_type.h: 1-D tensors F32; Q4_K_M puts output.weight, a tied
// token_embd.weight, attn_v and ffn_down in Q6_K and the rest in Q4_K; a row
// length that does not fit the block size falls back to Q8_0 or F16 with a
// note). A tensor already in its target type is copied byte for byte; others
// are dequantised row by row (dequantize_row) and quantised (quantize_row) in
// parallel over rows on `pool`. Tensors of a type tandem cannot dequantise
// (e.g. Q5_K, I32) are copied unchanged with a note. Tensors are produced one
// at a time while the output is written, so memory stays at about the largest
// tensor; the input is memory-mapped. `in` and `out` must differ.
// Thread safety: re-entrant; uses `pool` from the calling thread.
#pragma once

#include <string>

#include "tandem/base/thread_pool.h"
#include "tandem/convert/options.h"

namespace tandem::convert {

ConvertReport quantize_model(const std::string& in, const std::string& out, const TargetType& type,
                             ThreadPool& pool, bool verbose = false);
inline ConvertReport quantize_model(const std::string& in, const std::string& out, DType type,
                                    ThreadPool& pool, bool verbose = false) {
  return quantize_model(in, out, TargetType::of(type), pool, verbose);
}

}  // namespace tandem::convert
