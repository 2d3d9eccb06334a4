// TargetType — the weight type a user asks a converter or `tandem quantize`
// for, and the per-tensor rule that turns it into each tensor's stored type.
//
// Contract: parse() accepts F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K and the mix
// Q4_K_M (case-insensitive) and throws tandem::Error listing them otherwise.
// choose_type() is the one rule every converter uses:
//   1. Tensors that are not 2-D (norms, biases) are stored as F32.
//   2. Q4_K_M: output.weight, token_embd.weight when the output is tied to it
//      (no output.weight), and every blk.N.attn_v.weight and
//      blk.N.ffn_down.weight are Q6_K; every other 2-D tensor is Q4_K.
//      Any other request: that type for every 2-D tensor.
//   3. When the row length (GGUF ne[0]) is not a multiple of the chosen type's
//      block size, the first type of the chain Q4_K/Q6_K -> Q8_0 -> F16 that
//      fits is used instead (Q4_0/Q8_0 fall back to F16) and `note` explains it.
// llama_file_type() is the `general.file_type` value llama.cpp's tools use.
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/tensor/dtype.h"

namespace tandem::convert {

struct TargetType {
  DType base = DType::F32;
  bool q4_k_m = false;

  static TargetType parse(std::string_view name);
  static TargetType of(DType t) { return TargetType{t, false}; }
  std::string name() const;
  uint32_t llama_file_type() const;
};

// `tied_output`: the model has no output.weight, so token_embd.weight serves as it.
// Sets `*note` (when non-null) to a one-line explanation when the rule had to
// fall back to a type that fits the row length; leaves it empty otherwise.
DType choose_type(const TargetType& target, std::string_view tensor_name,
                  const std::vector<int64_t>& gguf_shape, bool tied_output, std::string* note);

}  // namespace tandem::convert
