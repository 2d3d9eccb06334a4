// Block layouts of the quantised GGML types, byte-exact with GGUF files.
//
// Contract: each struct is the on-disk block; a row of n elements of type T is
// n / block_elems consecutive blocks (see dtype.h row_bytes). Scales are stored
// as raw F16 bits (convert with half.h). No padding: sizes are asserted.
// Element order inside a block:
//   Q8_0  (32 elems):  x[j] = d * qs[j]
//   Q4_0  (32 elems):  x[j] = d * ((qs[j] & 15) - 8),  x[j+16] = d * ((qs[j] >> 4) - 8),  j < 16
//   Q4_K  (256 elems): 8 sub-blocks of 32 with 6-bit scale sc[s] and min m[s] packed into
//                      scales[12] (see q4k_scale_min). Sub-blocks 2c and 2c+1 share
//                      qs[32c .. 32c+32): low nibbles are sub-block 2c, high nibbles 2c+1.
//                      x = d * sc[s] * q - dmin * m[s]
//   Q6_K  (256 elems): 6-bit q = 4 low bits from ql, 2 high bits from qh; element
//                      e = 128h + 32g + l (h < 2, g < 4, l < 32) takes
//                      ql[64h + 32(g&1) + l] (low nibble if g < 2, else high nibble) and
//                      bits 2g..2g+1 of qh[32h + l];  x[e] = d * scales[e / 16] * (q - 32)
//   Q8_K  (256 elems): x[j] = d * qs[j]; bsums[i] = sum of qs[16i .. 16i+16)
// Thread safety: plain data.
#pragma once

#include <cstdint>

namespace tandem {

inline constexpr int kQK = 32;    // elements per Q8_0 / Q4_0 block
inline constexpr int kQKK = 256;  // elements per K-quant super-block

struct BlockQ8_0 {
  uint16_t d;      // f16 scale
  int8_t qs[kQK];  // (32)
};
static_assert(sizeof(BlockQ8_0) == 34);

struct BlockQ4_0 {
  uint16_t d;           // f16 scale
  uint8_t qs[kQK / 2];  // (16) two 4-bit quants per byte
};
static_assert(sizeof(BlockQ4_0) == 18);

struct BlockQ4_K {
  uint16_t d;            // f16 super-scale of the sub-block scales
  uint16_t dmin;         // f16 super-scale of the sub-block mins
  uint8_t scales[12];    // 8 x (6-bit scale, 6-bit min), packed
  uint8_t qs[kQKK / 2];  // (128) 4-bit quants
};
static_assert(sizeof(BlockQ4_K) == 144);

struct BlockQ6_K {
  uint8_t ql[kQKK / 2];      // (128) low 4 bits
  uint8_t qh[kQKK / 4];      // (64) high 2 bits
  int8_t scales[kQKK / 16];  // (16) one per 16 elements
  uint16_t d;                // f16 super-scale
};
static_assert(sizeof(BlockQ6_K) == 210);

struct BlockQ8_K {
  float d;                   // f32 scale
  int8_t qs[kQKK];           // (256)
  int16_t bsums[kQKK / 16];  // (16) sums of groups of 16 quants
};
static_assert(sizeof(BlockQ8_K) == 292);

// Q4_K packing of sub-block s (0..7): for s < 4 the scale is the low 6 bits of
// scales[s] and the min the low 6 bits of scales[s+4]; for s >= 4 the low 4 bits
// come from the nibbles of scales[s+4] (scale low, min high) and the top 2 bits
// from the top 2 bits of scales[s-4] (scale) and scales[s] (min).
inline void q4k_scale_min(const uint8_t* s, int j, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((s[j + 4] & 0xf) | ((s[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

inline void q4k_set_scale_min(uint8_t* s, int j, uint8_t sc, uint8_t m) {
  if (j < 4) {
    s[j] = static_cast<uint8_t>((s[j] & 0xc0) | (sc & 63));
    s[j + 4] = static_cast<uint8_t>((s[j + 4] & 0xc0) | (m & 63));
  } else {
    s[j + 4] = static_cast<uint8_t>((sc & 0xf) | ((m & 0xf) << 4));
    s[j - 4] = static_cast<uint8_t>((s[j - 4] & 63) | ((sc >> 4) << 6));
    s[j] = static_cast<uint8_t>((s[j] & 63) | ((m >> 4) << 6));
  }
}

}  // namespace tandem
