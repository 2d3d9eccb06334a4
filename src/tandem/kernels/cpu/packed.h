// Packed weight layouts: a model's Q4_0 and Q8_0 matrices rearranged once at load
// time so that each thread's decode reads one sequential stream (instead of four
// interleaved row streams, which the hardware prefetcher follows poorly) and the
// kernels load a group's scales with one vector load; for Q4_0 the kernel also
// spends about half the instructions per block (see matmul_avx2.cc).
//
// Layout kQ4_0x4 of a (rows, cols) Q4_0 matrix, rows % 4 == 0, cols % 64 == 0:
// row group g (rows 4g..4g+3) is ceil(cols/256) consecutive RecQ4_0x4 records of
// 576 bytes (9 cache lines), each holding four block pairs (b, b+1) = (2p, 2p+1);
// when cols % 256 != 0 the last record of a group holds the remaining 1-3 pairs
// and zero padding. The same 8 blocks' bytes per pair as the row-major file (18
// bytes per block, so the matrix keeps its size up to that padding), the four
// pairs' scales first so that every quant load is aligned and none spans two lines:
//   d[q]     = pair q's f16 scales in the lane order of the kernel's folded sums:
//              (r0,b) (r2,b) (r0,b+1) (r2,b+1) (r1,b) (r3,b) (r1,b+1) (r3,b+1)
//   qs[q][0] = [row 0 block b | row 1 block b]   (16 + 16 quant bytes, unchanged)
//   qs[q][1] = [row 2 block b | row 3 block b]
//   qs[q][2] = [row 0 block b+1 | row 1 block b+1]
//   qs[q][3] = [row 2 block b+1 | row 3 block b+1]
//
// Layout kQ8_0x4 of a (rows, cols) Q8_0 matrix, rows % 4 == 0, cols % 256 == 0,
// no quant equal to -128 (the kernel's sign step cannot represent +128; quantisers
// emit -127..127, so only hand-made files are refused and stay row-major): row
// group g is cols/256 consecutive RecQ8_0x4 records of 1088 bytes (17 cache
// lines), one per run of 8 blocks b = 8k..8k+7:
//   d[p]  = f16 scales of block pair (2p, 2p+1): rows 0..3 of block 2p, then
//           rows 0..3 of block 2p+1 (the lane order of the kernel's folded sums)
//   qs[j] = the four rows' 32 quants of block 8k+j
// The scales fill the first cache line, so every 32-byte quant load is aligned
// and none spans two lines (the file's 34-byte blocks split every other load).
// 34 bytes per block, as in the file: the matrix keeps its size.
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

struct RecQ4_0x4 {
  uint16_t d[4][8];      // (pairs, f16 scales in the lane order above)
  uint8_t qs[4][4][32];  // (pairs, 4 vectors, 2 rows x 16 bytes)
};
static_assert(sizeof(RecQ4_0x4) == 576);

struct RecQ8_0x4 {
  uint16_t d[4][8];     // (block pairs, [block 2p rows 0..3 | block 2p+1 rows 0..3]) f16
  int8_t qs[8][4][32];  // (blocks, rows, quants)
};
static_assert(sizeof(RecQ8_0x4) == 1088);

// Lane i of a pair's scale vector belongs to this row (0..3) and block (0 or 1).
inline constexpr int kQ4_0x4LaneRow[8] = {0, 2, 0, 2, 1, 3, 1, 3};
inline constexpr int kQ4_0x4LaneBlock[8] = {0, 0, 1, 1, 0, 0, 1, 1};

// A matrix copied out of its file: repacked (layout != kRows) or row-major in huge pages.
struct PackedMatrix {
  MatView view;     // data inside `bytes`
  BigBuffer bytes;  // huge-page backed when large (base/big_buffer.h)
};

// True when `w` (row-major) has a packed layout the kernels use (for Q8_0 this
// reads the quants: a -128 keeps the matrix row-major).
bool packable(const MatView& w);
// Whether model loading packs a matrix of this type: Q4_0 and Q8_0 unless env
// TANDEM_PACK=0 (row-major everywhere, for A/B measurements). Measured on the 1B
// shape, 2 threads, Xeon host (decode_roofline_xeon.json, q8_0_pack_ab.json):
// packed Q8_0 decodes at 90-97 % of the roofline against 82-88 % row-major, packed
// Q4_0 (aligned records) at 78-89 % against 75-79 % for the earlier 144-byte
// records and about 61 % row-major; on the dev VM both are within noise of the
// row-major kernels for decode.
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
// Records per 4-row group of a packed matrix (kQ4_0x4: the last one partial
// when cols % 256 != 0; kQ8_0x4: cols / 256).
int64_t records_per_group(const MatView& w);
// Block b of row r of a kQ4_0x4 / kQ8_0x4 matrix, in the file's block form.
BlockQ4_0 packed_block_q4_0(const MatView& w, int64_t r, int64_t b);
BlockQ8_0 packed_block_q8_0(const MatView& w, int64_t r, int64_t b);
// Row r of any matrix (packed or not) as f32: the reference dequantisation.
void dequantize_matrix_row(const MatView& w, int64_t r, float* out);

}  // namespace tandem::kernels
