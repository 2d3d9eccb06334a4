// DType — the GGML tensor types as they appear in GGUF files.
//
// Contract: the numeric values are the on-disk `ggml_type` ids of the GGUF
// format, so a DType read from a file is used as is. dtype_info() knows the
// block geometry of every type the format defines (so a file holding a type we
// cannot compute with still gets a precise "unsupported type Q5_K" error rather
// than "unknown type"), and says which ones tandem computes with.
// Thread safety: pure functions over constant tables.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tandem {

enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,  // activation format of the K-quant dot products; never a weight here
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  BF16 = 30,
};

struct DTypeInfo {
  DType type;
  std::string_view name;  // as llama.cpp's tools print it: "Q4_K", "F16"
  int64_t block_elems;    // elements per block (1 for plain types)
  int64_t block_bytes;    // bytes per block
  bool computable;        // tandem has dequantize + dot kernels for it (as a weight type)
};

// nullptr when `id` is not a type of the GGUF format we know.
const DTypeInfo* dtype_info(uint32_t id);
const DTypeInfo& dtype_info(DType t);
std::string_view dtype_name(DType t);
// Case-insensitive lookup by name ("q8_0", "F16"); nullopt if unknown.
std::optional<DType> dtype_from_name(std::string_view name);

// Bytes of a row of n elements; n must be a multiple of the block size.
inline int64_t row_bytes(DType t, int64_t n) {
  const DTypeInfo& i = dtype_info(t);
  return n / i.block_elems * i.block_bytes;
}

}  // namespace tandem
