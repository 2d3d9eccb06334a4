// GGUF format constants and layout arithmetic shared by the reader and the writer.
//
// Contract: plain constants and pure functions; every function that can overflow
// checks for it and reports a problem as a string (empty = fine) so the caller
// can prefix its own context (file path, tensor name).
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "tandem/tensor/dtype.h"

namespace tandem::gguf {

inline constexpr char kMagic[4] = {'G', 'G', 'U', 'F'};
inline constexpr uint32_t kWriteVersion = 3;
inline constexpr uint32_t kDefaultAlignment = 32;
inline constexpr char kAlignmentKey[] = "general.alignment";

inline constexpr int kMaxDims = 4;
inline constexpr uint64_t kMaxTensorNameBytes = 64;  // the spec's limit
inline constexpr uint64_t kMaxKeyBytes = 65535;      // the spec's limit
inline constexpr int kMaxArrayDepth = 16;            // nesting of arrays of arrays

// Smallest possible encodings, used to reject counts that cannot fit in the
// remaining bytes before anything is allocated.
inline constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;  // key len, 1-byte key, type, u8 value
inline constexpr uint64_t kMinTensorInfoBytes =
    8 + 1 + 4 + 8 + 4 + 8;  // name, n_dims, 1 dim, type, offset

inline bool is_power_of_two(uint64_t a) {
  return a != 0 && (a & (a - 1)) == 0;
}

// Rounds x up to a multiple of `alignment` (a power of two); x + alignment must not overflow.
inline uint64_t align_up(uint64_t x, uint64_t alignment) {
  return (x + alignment - 1) & ~(alignment - 1);
}

// Checks a tensor shape (GGUF order, shape[0] = row length) against its type and
// computes its byte size into *nbytes. Returns "" when the shape is valid, else
// a description such as "has ne[0] = 33, not a multiple of the Q4_0 block size 32".
std::string check_tensor_shape(DType type, std::span<const int64_t> shape, uint64_t* nbytes);

// "[4096, 32000]"
std::string shape_string(std::span<const int64_t> shape);

}  // namespace tandem::gguf
