#include "tandem/kernels/cpu/packed.h"

#include <cstdlib>
#include <cstring>
#include <string_view>

#include "tandem/base/error.h"
#include "tandem/tensor/quantize.h"

namespace tandem::kernels {
namespace {

// The record of block pair p of row group g, and where row i's half of block j lives in it.
const PairQ4_0x4& record(const MatView& w, int64_t g, int64_t p) {
  return static_cast<const PairQ4_0x4*>(w.data)[g * (w.cols / 64) + p];
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

using Bytes = std::unique_ptr<unsigned char, void (*)(void*)>;

Bytes allocate(size_t bytes) {
  Bytes b{static_cast<unsigned char*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64)), &std::free};
  if (!b) fail("pack_matrix: cannot allocate {} MiB", bytes >> 20);
  return b;
}

PackedMatrix pack_q4_0(const MatView& w) {
  const int64_t groups = w.rows / 4, pairs = w.cols / 64;
  PackedMatrix m{{w.type, nullptr, w.rows, w.cols, Layout::kQ4_0x4},
                 allocate(static_cast<size_t>(groups * pairs) * sizeof(PairQ4_0x4))};
  m.view.data = m.bytes.get();
  auto* out = reinterpret_cast<PairQ4_0x4*>(m.bytes.get());
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t p = 0; p < pairs; ++p) {
      PairQ4_0x4& rec = out[g * pairs + p];
      for (int i = 0; i < 4; ++i) {
        for (int j = 0; j < 2; ++j) {
          const auto& blk = row_block<BlockQ4_0>(w, 4 * g + i, 2 * p + j);
          std::memcpy(rec.qs[vector_of(i, j)] + 16 * (i % 2), blk.qs, 16);
          rec.d[lane_of(i, j)] = blk.d;
        }
      }
    }
  }
  return m;
}

PackedMatrix pack_q8_0(const MatView& w) {
  const int64_t groups = w.rows / 4, nb = w.cols / kQK;
  PackedMatrix m{{w.type, nullptr, w.rows, w.cols, Layout::kQ8_0x4},
                 allocate(static_cast<size_t>(groups * nb) * sizeof(RecQ8_0x4))};
  m.view.data = m.bytes.get();
  auto* out = reinterpret_cast<RecQ8_0x4*>(m.bytes.get());
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t b = 0; b < nb; ++b) {
      RecQ8_0x4& rec = out[g * nb + b];
      for (int i = 0; i < 4; ++i) {
        const auto& blk = row_block<BlockQ8_0>(w, 4 * g + i, b);
        rec.d[i] = blk.d;
        std::memcpy(rec.qs[i], blk.qs, kQK);
      }
    }
  }
  return m;
}

}  // namespace

bool packable(const MatView& w) {
  if (w.layout != Layout::kRows || w.rows <= 0 || w.rows % 4 != 0 || w.cols <= 0) return false;
  return (w.type == DType::Q4_0 && w.cols % 64 == 0) || (w.type == DType::Q8_0 && w.cols % 32 == 0);
}

bool packing_enabled(DType type) {
  static const std::string_view mode = [] {
    const char* v = std::getenv("TANDEM_PACK");
    return std::string_view(v ? v : "");
  }();
  if (mode == "0") return false;
  return type == DType::Q4_0 || (type == DType::Q8_0 && mode == "all");
}

bool should_pack(const MatView& w) {
  return packing_enabled(w.type) && packable(w);
}

PackedMatrix pack_matrix(const MatView& w) {
  if (!packable(w))
    fail(
        "pack_matrix: a {} matrix of {} x {} has no packed layout (needs Q4_0 with cols % 64 == 0 "
        "or Q8_0, and rows % 4 == 0)",
        dtype_name(w.type), w.rows, w.cols);
  return w.type == DType::Q4_0 ? pack_q4_0(w) : pack_q8_0(w);
}

BlockQ4_0 packed_block_q4_0(const MatView& w, int64_t r, int64_t b) {
  TANDEM_CHECK(w.layout == Layout::kQ4_0x4, "packed_block_q4_0 on another layout");
  const PairQ4_0x4& rec = record(w, r / 4, b / 2);
  const int i = static_cast<int>(r % 4), j = static_cast<int>(b % 2);
  BlockQ4_0 blk;
  blk.d = rec.d[lane_of(i, j)];
  std::memcpy(blk.qs, rec.qs[vector_of(i, j)] + 16 * (i % 2), 16);
  return blk;
}

BlockQ8_0 packed_block_q8_0(const MatView& w, int64_t r, int64_t b) {
  TANDEM_CHECK(w.layout == Layout::kQ8_0x4, "packed_block_q8_0 on another layout");
  const RecQ8_0x4& rec = static_cast<const RecQ8_0x4*>(w.data)[(r / 4) * (w.cols / kQK) + b];
  BlockQ8_0 blk;
  blk.d = rec.d[r % 4];
  std::memcpy(blk.qs, rec.qs[r % 4], kQK);
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
