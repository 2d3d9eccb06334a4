#include "tandem/kernels/cpu/packed.h"

#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>

#include "tandem/base/error.h"
#include "tandem/tensor/quantize.h"

namespace tandem::kernels {
namespace {

// The record holding block pair p of row group g, and where row i's half of block j lives in it.
const RecQ4_0x4& record(const MatView& w, int64_t g, int64_t p) {
  return static_cast<const RecQ4_0x4*>(w.data)[g * records_per_group(w) + p / 4];
}
int vector_of(int i, int j) {
  return 2 * j + i / 2;
}
int lane_of(int i, int j) {
  for (int l = 0; l < 8; ++l)
    if (kQ4_0x4LaneRow[l] == i && kQ4_0x4LaneBlock[l] == j) return l;
  return -1;
}

template <class Block>
const Block& row_block(const MatView& w, int64_t r, int64_t b) {
  const auto* base = static_cast<const unsigned char*>(w.data) + r * row_bytes(w.type, w.cols);
  return reinterpret_cast<const Block*>(base)[b];
}

PackedMatrix pack_q4_0(const MatView& w) {
  PackedMatrix m{{w.type, nullptr, w.rows, w.cols, Layout::kQ4_0x4}, {}};
  const int64_t groups = w.rows / 4, pairs = w.cols / 64, n_rec = records_per_group(m.view);
  const size_t bytes = static_cast<size_t>(groups * n_rec) * sizeof(RecQ4_0x4);
  m.bytes = BigBuffer::allocate(bytes);  // zeroed: a partial last record's unused pairs
  m.view.data = m.bytes.data();
  auto* out = reinterpret_cast<RecQ4_0x4*>(m.bytes.data());
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t p = 0; p < pairs; ++p) {
      RecQ4_0x4& rec = out[g * n_rec + p / 4];
      const int64_t q = p % 4;
      for (int i = 0; i < 4; ++i) {
        for (int j = 0; j < 2; ++j) {
          const auto& blk = row_block<BlockQ4_0>(w, 4 * g + i, 2 * p + j);
          std::memcpy(rec.qs[q][vector_of(i, j)] + 16 * (i % 2), blk.qs, 16);
          rec.d[q][lane_of(i, j)] = blk.d;
        }
      }
    }
  }
  return m;
}

// Record k of row group g of a kQ8_0x4 matrix, and where block j of it keeps row i's scale.
const RecQ8_0x4& q8_record(const MatView& w, int64_t g, int64_t k) {
  return static_cast<const RecQ8_0x4*>(w.data)[g * records_per_group(w) + k];
}
template <class Rec>  // RecQ8_0x4, const or not
auto& q8_scale(Rec& rec, int i, int j) {
  return rec.d[j / 2][4 * (j % 2) + i];
}

// Nothing when a quant is -128 (the packed kernel's sign trick cannot hold it):
// the check rides along with the copy, so the matrix is read once.
std::optional<PackedMatrix> pack_q8_0(const MatView& w) {
  PackedMatrix m{{w.type, nullptr, w.rows, w.cols, Layout::kQ8_0x4}, {}};
  const int64_t n_rec = records_per_group(m.view);
  m.bytes = BigBuffer::allocate(static_cast<size_t>(w.rows / 4 * n_rec) * sizeof(RecQ8_0x4));
  m.view.data = m.bytes.data();
  auto* out = reinterpret_cast<RecQ8_0x4*>(m.bytes.data());
  for (int64_t r = 0; r < w.rows; ++r) {
    for (int64_t b = 0; b < w.cols / kQK; ++b) {
      const auto& blk = row_block<BlockQ8_0>(w, r, b);
      RecQ8_0x4& rec = out[(r / 4) * n_rec + b / 8];
      const int i = static_cast<int>(r % 4), j = static_cast<int>(b % 8);
      for (int8_t q : blk.qs)
        if (q == -128) return std::nullopt;
      q8_scale(rec, i, j) = blk.d;
      std::memcpy(rec.qs[j][i], blk.qs, kQK);
    }
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
  if (w.layout != Layout::kRows || w.rows <= 0 || w.rows % 4 != 0 || w.cols <= 0) return false;
  return (w.type == DType::Q4_0 && w.cols % 64 == 0) ||
         (w.type == DType::Q8_0 && w.cols % 256 == 0);
}

}  // namespace

bool packable(const MatView& w) {
  return packable_shape(w) && !(w.type == DType::Q8_0 && has_q8_min(w));
}

bool packing_enabled(DType type) {
  static const bool off = [] {
    const char* v = std::getenv("TANDEM_PACK");
    return v != nullptr && std::string_view(v) == "0";
  }();
  return !off && (type == DType::Q4_0 || type == DType::Q8_0);
}

int64_t records_per_group(const MatView& w) {
  return (w.cols + 255) / 256;  // Q4_0: a partial last record when cols % 256 != 0
}

std::optional<PackedMatrix> try_pack_matrix(const MatView& w) {
  if (!packable_shape(w)) return std::nullopt;
  if (w.type == DType::Q4_0) return pack_q4_0(w);
  return pack_q8_0(w);
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
    fail(
        "pack_matrix: a {} matrix of {} x {} has no packed layout (needs rows % 4 == 0 and Q4_0 "
        "with cols % 64 == 0 or Q8_0 with cols % 256 == 0 and no quant -128)",
        dtype_name(w.type), w.rows, w.cols);
  return std::move(*m);
}

BlockQ4_0 packed_block_q4_0(const MatView& w, int64_t r, int64_t b) {
  TANDEM_CHECK(w.layout == Layout::kQ4_0x4, "packed_block_q4_0 on another layout");
  const RecQ4_0x4& rec = record(w, r / 4, b / 2);
  const int i = static_cast<int>(r % 4), j = static_cast<int>(b % 2), q = (b / 2) % 4;
  BlockQ4_0 blk;
  blk.d = rec.d[q][lane_of(i, j)];
  std::memcpy(blk.qs, rec.qs[q][vector_of(i, j)] + 16 * (i % 2), 16);
  return blk;
}

BlockQ8_0 packed_block_q8_0(const MatView& w, int64_t r, int64_t b) {
  TANDEM_CHECK(w.layout == Layout::kQ8_0x4, "packed_block_q8_0 on another layout");
  const RecQ8_0x4& rec = q8_record(w, r / 4, b / 8);
  const int i = static_cast<int>(r % 4), j = static_cast<int>(b % 8);
  BlockQ8_0 blk;
  blk.d = q8_scale(rec, i, j);
  std::memcpy(blk.qs, rec.qs[j][i], kQK);
  return blk;
}

void dequantize_matrix_row(const MatView& w, int64_t r, float* out) {
  if (w.layout == Layout::kRows) {
    dequantize_row(w.type,
                   static_cast<const unsigned char*>(w.data) + r * row_bytes(w.type, w.cols), out,
                   w.cols);
    return;
  }
  for (int64_t b = 0; b < w.cols / kQK; ++b) {
    if (w.layout == Layout::kQ4_0x4) {
      const BlockQ4_0 blk = packed_block_q4_0(w, r, b);
      dequantize_row(DType::Q4_0, &blk, out + b * kQK, kQK);
    } else {
      const BlockQ8_0 blk = packed_block_q8_0(w, r, b);
      dequantize_row(DType::Q8_0, &blk, out + b * kQK, kQK);
    }
  }
}

}  // namespace tandem::kernels
