// Packed weight layouts: a model's Q4_0, Q8_0, F16 and BF16 matrices rearranged once at load
// time so that each thread's decode reads one sequential stream (instead of one
// stream per row, which the hardware prefetcher follows poorly), every vector
// load is aligned, and the kernels sum without horizontal folds.
//
// Layouts kQ4_0x8 and kQ8_0x8 of a (rows, cols) Q4_0 / Q8_0 matrix, rows % 8 == 0:
// row group g (rows 8g..8g+7) is ceil(cols/128) consecutive records, one per run
// of four blocks b = 4k..4k+3 (when cols % 128 != 0 the last record of a group
// holds the remaining 1-3 blocks and zero padding). Record block j holds:
//   d[j]        = the eight rows' f16 scales of block 4k+j, row 0 first
//   qs[j][v]    = 32 bytes: bytes 4v..4v+3 of each of the eight rows' quants
//                 (row 0 first), v < 4 for Q4_0 (16 nibble bytes: element e in
//                 byte e % 16, low nibble for e < 16), v < 8 for Q8_0
// So one vector load of qs[j][v] meets one broadcast 4-byte load of the
// activation (elements 4v..4v+3, and for Q4_0's high nibbles 16+4v..16+4v+3):
// each 32-bit lane sums one row's products, and the lanes add up vertically over
// v with no shuffles. The scales fill the record's first cache line: a Q4_0
// record is 576 bytes (9 lines), a Q8_0 record 1088 (17 lines), exactly the
// bytes of the 32 blocks in the file (18 and 34 each).
//
// Layout kHalfx4 of a (rows, cols) F16 or BF16 matrix, rows % 4 == 0, cols % 16 == 0:
// row group g (rows 4g..4g+3) is cols/16 consecutive 128-byte chunks, chunk k =
// the four rows' columns 16k..16k+15 (32 bytes each, row 0 first): the four-row
// decode kernel's loads in the order it makes them, so a thread reads one
// sequential stream instead of four row streams. The file's bytes, regrouped.
//
// Q8_0 matrices with a quant of -128 stay row-major: the kernel's sign step
// cannot represent +128 (quantisers emit -127..127, so only hand-made files).
//
// Every block keeps its exact bytes, so results equal the row-major kernels' up to
// float summation order.
//
// Ownership: PackedMatrix owns its bytes; its `view` points into them and is valid
// while the PackedMatrix lives (moving it keeps the view valid).
// Thread safety: pack_matrix() is a pure function of its input; a PackedMatrix is
// immutable after construction.
#pragma once

#include <cstdint>
#include <optional>

#include "tandem/base/big_buffer.h"
#include "tandem/kernels/cpu/matmul.h"
#include "tandem/tensor/blocks.h"

namespace tandem::kernels {

// One record of 4 blocks x 8 rows (see above); Block is BlockQ4_0 or BlockQ8_0.
template <class Block>
struct RecX8 {
  static constexpr int kVectors = sizeof(Block::qs) / 4;  // 4-byte groups per block
  uint16_t d[4][8];                                       // (blocks, rows) f16
  unsigned char qs[4][kVectors][8][4];                    // (blocks, 4-byte groups, rows, bytes)
};
using RecQ4_0x8 = RecX8<BlockQ4_0>;
using RecQ8_0x8 = RecX8<BlockQ8_0>;
static_assert(sizeof(RecQ4_0x8) == 576 && sizeof(RecQ8_0x8) == 1088);

// A matrix copied out of its file: repacked (layout != kRows) or row-major in huge pages.
struct PackedMatrix {
  MatView view;     // data inside `bytes`
  BigBuffer bytes;  // huge-page backed when large (base/big_buffer.h)
};

// The packed layout of a type (kRows: the type has none).
Layout packed_layout_of(DType type);
// Whether w's type and shape suit w.layout (kRows: always); the rules are
// kPackedLayoutRules. Shared by packing and matmul's view checks.
bool fits_layout(const MatView& w);
inline constexpr const char* kPackedLayoutRules =
    "Q4_0x8 / Q8_0x8: Q4_0 / Q8_0 with rows % 8 == 0; Halfx4: F16 or BF16 with rows % 4 == 0 and "
    "cols % 16 == 0";
// True when `w` (row-major) has a packed layout the kernels use (for Q8_0 this
// reads the quants: a -128 keeps the matrix row-major).
bool packable(const MatView& w);
// Whether model loading packs a matrix of this type: Q4_0, Q8_0, F16 and BF16 unless
// env TANDEM_PACK=0 (row-major everywhere, for A/B measurements).
// Measured on the 1B shape, 2 threads, Xeon host: the earlier 4-row packed layouts decoded Q8_0 at
// 90-97 % of the roofline against 82-88 % row-major and Q4_0 at 78-89 % against about 61 %
// (decode_roofline_xeon.json, q8_0_pack_ab.json); these 8-row layouts, in the same calls as the
// 4-row ones, Q8_0 at 95-100 % against 92-94 % and Q4_0 at 81-88 % against 77-81 %, with prompt
// processing 1.5x (Q8_0) and 1.2-1.4x (Q4_0) faster (packed_x8_xeon.json; dev VM:
// packed_x8_vm.json). Packed F16: 102 / 94 % against 90 / 89 % row-major on the
// Xeon, 90 / 77 % against 67 / 69 % on the dev VM (packed_f16.json).
bool packing_enabled(DType type);
// The packed copy of a row-major matrix, or nothing when it is not packable
// (reads the matrix once: a Q8_0 -128 is found while copying).
std::optional<PackedMatrix> try_pack_matrix(const MatView& w);
// Row-major matrices from this size up are copied into huge pages at load
// (when BigBuffer::huge_pages_usable(): off by default, see base/big_buffer.h).
inline constexpr size_t kHugePageCopyMinBytes = size_t{2} << 20;
// What a loader keeps instead of the file's bytes: try_pack_matrix() when
// packing_enabled(w.type) and the matrix packs; else, for a row-major matrix of
// kHugePageCopyMinBytes or more, a row-major copy in huge pages when huge pages
// are enabled and the kernel accepts the advice (file mappings come in 4 KiB
// pages); else nothing (use the file's mapping).
std::optional<PackedMatrix> pack_for_loading(const MatView& w);
// The packed copy of a packable row-major matrix (tandem::Error otherwise).
PackedMatrix pack_matrix(const MatView& w);
// Records per 8-row group of a packed matrix: ceil(cols / 128), the last one
// partial when cols % 128 != 0.
int64_t records_per_group(const MatView& w);
// Block b of row r of a kQ4_0x8 / kQ8_0x8 matrix, in the file's block form.
BlockQ4_0 packed_block_q4_0(const MatView& w, int64_t r, int64_t b);
BlockQ8_0 packed_block_q8_0(const MatView& w, int64_t r, int64_t b);
// kHalfx4 element offsets (16-bit units): row r's first element from the matrix
// start, and column c of a row from the row's first element.
inline int64_t halfx4_row_start(int64_t r, int64_t cols) {
  return (r / 4) * 4 * cols + 16 * (r % 4);
}
inline int64_t halfx4_offset(int64_t c) {
  return (c / 16) * 64 + c % 16;
}
// Row r of any matrix (packed or not) as f32: the reference dequantisation.
void dequantize_matrix_row(const MatView& w, int64_t r, float* out);

}  // namespace tandem::kernels
