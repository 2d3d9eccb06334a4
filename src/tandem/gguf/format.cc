#include "tandem/gguf/format.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <limits>

namespace tandem::gguf {

std::string shape_string(std::span<const int64_t> shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

std::string check_tensor_shape(DType type, std::span<const int64_t> shape, uint64_t* nbytes) {
  const DTypeInfo* info = dtype_info(static_cast<uint32_t>(type));
  if (info == nullptr) return fmt::format("has unknown type id {}", static_cast<uint32_t>(type));
  if (shape.empty() || shape.size() > static_cast<size_t>(kMaxDims))
    return fmt::format("has {} dimensions; GGUF tensors have 1 to {}", shape.size(), kMaxDims);
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] < 1)
      return fmt::format("has shape {}: dimension {} is {}, every dimension must be at least 1",
                         shape_string(shape), i, shape[i]);
  int64_t elements = 1;
  for (int64_t d : shape)
    if (__builtin_mul_overflow(elements, d, &elements))
      return fmt::format("has absurd shape {}: its element count overflows 64 bits",
                         shape_string(shape));
  if (shape[0] % info->block_elems != 0)
    return fmt::format("has ne[0] = {}, not a multiple of the {} block size {}", shape[0],
                       info->name, info->block_elems);
  // bytes = blocks per row * block bytes * rows; elements fit in int64, so the
  // block count does too, but multiplying by the block size may not.
  int64_t blocks = elements / info->block_elems;
  int64_t bytes = 0;
  if (__builtin_mul_overflow(blocks, info->block_bytes, &bytes))
    return fmt::format("has absurd shape {}: its byte size overflows 64 bits", shape_string(shape));
  *nbytes = static_cast<uint64_t>(bytes);
  return {};
}

}  // namespace tandem::gguf
