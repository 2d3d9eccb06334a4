#include "tandem/kernels/cpu/packed.h"

#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>
#include <type_traits>

#include "tandem/base/error.h"
#include "tandem/tensor/quantize.h"

namespace tandem::kernels {
namespace {

template <class Block>
const Block& row_block(const MatView& w, int64_t r, int64_t b) {
  const auto* base = static_cast<const unsigned char*>(w.data) + r * row_bytes(w.type, w.cols);
  return reinterpret_cast<const Block*>(base)[b];
}

// The record of a packed matrix holding block b of row r.
template <class Block, class Data>  // Data: void or const void
auto& record_of(Data* data, const MatView& w, int64_t r, int64_t b) {
  using Rec = std::conditional_t<std::is_const_v<Data>, const RecX8<Block>, RecX8<Block>>;
  return static_cast<Rec*>(data)[(r / 8) * records_per_group(w) + b / 4];
}

// Block b of row r between the file's form and its record (packed.h): the scale
// to d[b % 4][r % 8], each 4-byte group v of the quants to qs[b % 4][v][r % 8].
template <class Block>
void put_block(const Block& blk, RecX8<Block>& rec, int64_t r, int64_t b) {
  const int j = static_cast<int>(b % 4), i = static_cast<int>(r % 8);
  rec.d[j][i] = blk.d;
  for (int v = 0; v < RecX8<Block>::kVectors; ++v)
    std::memcpy(rec.qs[j][v][i], reinterpret_cast<const unsigned char*>(blk.qs) + 4 * v, 4);
}
template <class Block>
Block get_block(const RecX8<Block>& rec, int64_t r, int64_t b) {
  const int j = static_cast<int>(b % 4), i = static_cast<int>(r % 8);
  Block blk;
  blk.d = rec.d[j][i];
  for (int v = 0; v < RecX8<Block>::kVectors; ++v)
    std::memcpy(reinterpret_cast<unsigned char*>(blk.qs) + 4 * v, rec.qs[j][v][i], 4);
  return blk;
}

// Nothing when a Q8_0 quant is -128 (the packed kernel's sign trick cannot hold
// it): the check rides along with the copy, so the matrix is read once.
template <class Block>
std::optional<PackedMatrix> pack_x8(const MatView& w, Layout layout) {
  PackedMatrix m{{w.type, nullptr, w.rows, w.cols, layout}, {}};
  const size_t n_rec = static_cast<size_t>(w.rows / 8 * records_per_group(w));
  m.bytes = BigBuffer::allocate(n_rec * sizeof(RecX8<Block>));  // zeroed: partial records
  m.view.data = m.bytes.data();
  for (int64_t r = 0; r < w.rows; ++r) {
    for (int64_t b = 0; b < w.cols / kQK; ++b) {
      const Block& blk = row_block<Block>(w, r, b);
      if constexpr (std::is_same_v<Block, BlockQ8_0>)
        for (int8_t q : blk.qs)
          if (q == -128) return std::nullopt;
      put_block(blk, record_of<Block>(static_cast<void*>(m.bytes.data()), m.view, r, b), r, b);
    }
  }
  return m;
}

PackedMatrix pack_halfx4(const MatView& w) {
  PackedMatrix m{{w.type, nullptr, w.rows, w.cols, Layout::kHalfx4}, {}};
  m.bytes = BigBuffer::allocate(static_cast<size_t>(w.rows * w.cols) * 2);
  m.view.data = m.bytes.data();
  auto* out = reinterpret_cast<uint16_t*>(m.bytes.data());
  for (int64_t r = 0; r < w.rows; ++r) {
    const auto* row = reinterpret_cast<const uint16_t*>(static_cast<const unsigned char*>(w.data) +
                                                        r * row_bytes(w.type, w.cols));
    uint16_t* dst = out + halfx4_row_start(r, w.cols);
    for (int64_t c = 0; c < w.cols; c += 16) std::memcpy(dst + halfx4_offset(c), row + c, 32);
  }
  return m;
}

// Whether any quant of a row-major Q8_0 matrix is -128.
bool has_q8_min(const MatView& w) {
  for (int64_t r = 0; r < w.rows; ++r)
    for (int64_t b = 0; b < w.cols / kQK; ++b)
      for (int8_t q : row_block<BlockQ8_0>(w, r, b).qs)
        if (q == -128) return true;
  return false;
}

// The shape part of packable(): the layouts' record and row-group sizes.
bool packable_shape(const MatView& w) {
  MatView packed = w;
  packed.layout = packed_layout_of(w.type);
  return w.layout == Layout::kRows && packed.layout != Layout::kRows && w.rows > 0 && w.cols > 0 &&
         fits_layout(packed);
}

}  // namespace

Layout packed_layout_of(DType type) {
  switch (type) {
    case DType::Q4_0:
      return Layout::kQ4_0x8;
    case DType::Q8_0:
      return Layout::kQ8_0x8;
    case DType::F16:
    case DType::BF16:
      return Layout::kHalfx4;
    default:
      return Layout::kRows;
  }
}

bool fits_layout(const MatView& w) {
  switch (w.layout) {
    case Layout::kRows:
      return true;
    case Layout::kQ4_0x8:
    case Layout::kQ8_0x8:
      return w.type == (w.layout == Layout::kQ4_0x8 ? DType::Q4_0 : DType::Q8_0) &&
             w.rows % 8 == 0 && w.cols % kQK == 0;
    case Layout::kHalfx4:
      return (w.type == DType::F16 || w.type == DType::BF16) && w.rows % 4 == 0 && w.cols % 16 == 0;
  }
  return false;
}

bool packable(const MatView& w) {
  return packable_shape(w) && !(w.type == DType::Q8_0 && has_q8_min(w));
}

bool packing_enabled(DType type) {
  static const bool off = [] {
    const char* v = std::getenv("TANDEM_PACK");
    return v != nullptr && std::string_view(v) == "0";
  }();
  return !off && packed_layout_of(type) != Layout::kRows;
}

int64_t records_per_group(const MatView& w) {
  return (w.cols / kQK + 3) / 4;
}

std::optional<PackedMatrix> try_pack_matrix(const MatView& w) {
  if (!packable_shape(w)) return std::nullopt;
  const Layout layout = packed_layout_of(w.type);
  if (layout == Layout::kHalfx4) return pack_halfx4(w);
  if (layout == Layout::kQ4_0x8) return pack_x8<BlockQ4_0>(w, layout);
  return pack_x8<BlockQ8_0>(w, layout);
}

std::optional<PackedMatrix> pack_for_loading(const MatView& w) {
  if (packing_enabled(w.type))
    if (std::optional<PackedMatrix> p = try_pack_matrix(w)) return p;
  const size_t bytes = static_cast<size_t>(w.rows * row_bytes(w.type, w.cols));
  if (!BigBuffer::huge_pages_usable() || w.layout != Layout::kRows || bytes < kHugePageCopyMinBytes)
    return std::nullopt;
  BigBuffer copy = BigBuffer::allocate(bytes);
  if (!copy.huge_pages_advised()) return std::nullopt;  // a copy would gain nothing
  std::memcpy(copy.data(), w.data, bytes);
  PackedMatrix m{w, std::move(copy)};
  m.view.data = m.bytes.data();
  return m;
}

PackedMatrix pack_matrix(const MatView& w) {
  std::optional<PackedMatrix> m = try_pack_matrix(w);
  if (!m)
    fail("pack_matrix: a {} matrix of {} x {} has no packed layout ({}; no Q8_0 quant -128)",
         dtype_name(w.type), w.rows, w.cols, kPackedLayoutRules);
  return std::move(*m);
}

BlockQ4_0 packed_block_q4_0(const MatView& w, int64_t r, int64_t b) {
  TANDEM_CHECK(w.layout == Layout::kQ4_0x8, "packed_block_q4_0 on another layout");
  return get_block<BlockQ4_0>(record_of<BlockQ4_0>(w.data, w, r, b), r, b);
}

BlockQ8_0 packed_block_q8_0(const MatView& w, int64_t r, int64_t b) {
  TANDEM_CHECK(w.layout == Layout::kQ8_0x8, "packed_block_q8_0 on another layout");
  return get_block<BlockQ8_0>(record_of<BlockQ8_0>(w.data, w, r, b), r, b);
}

void dequantize_matrix_row(const MatView& w, int64_t r, float* out) {
  if (w.layout == Layout::kRows) {
    dequantize_row(w.type,
                   static_cast<const unsigned char*>(w.data) + r * row_bytes(w.type, w.cols), out,
                   w.cols);
    return;
  }
  if (w.layout == Layout::kHalfx4) {
    const auto* row = static_cast<const uint16_t*>(w.data) + halfx4_row_start(r, w.cols);
    for (int64_t c = 0; c < w.cols; c += 16)
      dequantize_row(w.type, row + halfx4_offset(c), out + c, 16);
    return;
  }
  for (int64_t b = 0; b < w.cols / kQK; ++b) {
    if (w.layout == Layout::kQ4_0x8) {
      const BlockQ4_0 blk = packed_block_q4_0(w, r, b);
      dequantize_row(DType::Q4_0, &blk, out + b * kQK, kQK);
    } else {
      const BlockQ8_0 blk = packed_block_q8_0(w, r, b);
      dequantize_row(DType::Q8_0, &blk, out + b * kQK, kQK);
    }
  }
}

}  // namespace tandem::kernels
