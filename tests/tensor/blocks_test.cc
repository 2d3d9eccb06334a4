// Hand-built blocks with known bit patterns: checks the layouts against the
// format definitions (written out here in ggml's loop form), independently of
// our quantisers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "tandem/tensor/blocks.h"
#include "tandem/tensor/dtype.h"
#include "tandem/tensor/half.h"
#include "tandem/tensor/quantize.h"

namespace tandem {
namespace {

TEST(Blocks, SizesMatchDtypeTable) {
  EXPECT_EQ(sizeof(BlockQ8_0), dtype_info(DType::Q8_0).block_bytes);
  EXPECT_EQ(sizeof(BlockQ4_0), dtype_info(DType::Q4_0).block_bytes);
  EXPECT_EQ(sizeof(BlockQ4_K), dtype_info(DType::Q4_K).block_bytes);
  EXPECT_EQ(sizeof(BlockQ6_K), dtype_info(DType::Q6_K).block_bytes);
  EXPECT_EQ(sizeof(BlockQ8_K), dtype_info(DType::Q8_K).block_bytes);
  EXPECT_EQ(offsetof(BlockQ4_K, scales), 4u);
  EXPECT_EQ(offsetof(BlockQ6_K, d), 208u);
  EXPECT_EQ(offsetof(BlockQ8_K, bsums), 260u);
}

// The GGUF type ids (ggml_type) that exist, and only those, have info; each
// info names its own id, and names map back to it.
TEST(Blocks, DtypeInfoByIdKnowsExactlyTheGgufTypes) {
  const std::vector<uint32_t> known = {0,  1,  2,  3,  6,  7,  8,  9,  10, 11,
                                       12, 13, 14, 15, 24, 25, 26, 27, 28, 30};
  for (uint32_t id = 0; id < 300; ++id) {
    const DTypeInfo* info = dtype_info(id);
    const bool is_known = std::find(known.begin(), known.end(), id) != known.end();
    ASSERT_EQ(info != nullptr, is_known) << "id " << id;
    if (!info) continue;
    EXPECT_EQ(static_cast<uint32_t>(info->type), id);
    EXPECT_EQ(dtype_from_name(info->name), info->type);
  }
  EXPECT_EQ(dtype_info(0xffffffffu), nullptr);
}

TEST(Blocks, Q8_0) {
  unsigned char raw[34];
  raw[0] = 0x00, raw[1] = 0x38;  // f16 0.5, little endian
  for (int j = 0; j < 32; ++j) raw[2 + j] = static_cast<unsigned char>(j - 16);
  float out[32];
  dequantize_row(DType::Q8_0, raw, out, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(out[j], 0.5f * (j - 16));
}

TEST(Blocks, Q4_0) {
  unsigned char raw[18];
  raw[0] = 0x00, raw[1] = 0x40;  // f16 2.0
  for (int j = 0; j < 16; ++j) raw[2 + j] = static_cast<unsigned char>(j | ((15 - j) << 4));
  float out[32];
  dequantize_row(DType::Q4_0, raw, out, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(out[j], 2.f * (j - 8));
    EXPECT_EQ(out[j + 16], 2.f * (7 - j));
  }
}

TEST(Blocks, Q4_K) {
  unsigned char raw[144] = {};
  raw[0] = 0x00, raw[1] = 0x3c;  // d = 1
  raw[2] = 0x00, raw[3] = 0x38;  // dmin = 0.5
  unsigned char* sc = raw + 4;
  for (int j = 0; j < 4; ++j) sc[j] = 0x41, sc[j + 4] = 0x82, sc[j + 8] = 0x53;
  // Sub-blocks 0..3: scale 0x41&63 = 1, min 0x82&63 = 2.
  // Sub-blocks 4..7: scale (0x53&15) | (0x41>>6)<<4 = 19, min (0x53>>4) | (0x82>>6)<<4 = 37.
  const int want_sc[8] = {1, 1, 1, 1, 19, 19, 19, 19}, want_m[8] = {2, 2, 2, 2, 37, 37, 37, 37};
  unsigned char* qs = raw + 16;
  for (int i = 0; i < 128; ++i)
    qs[i] = static_cast<unsigned char>((i % 16) | (((i + 3) % 16) << 4));
  float out[256];
  dequantize_row(DType::Q4_K, raw, out, 256);
  // ggml loop form: for each 64-chunk c, 32 low nibbles (sub-block 2c) then 32 high (2c+1).
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      const int lo = qs[32 * c + l] & 15, hi = qs[32 * c + l] >> 4;
      EXPECT_EQ(out[64 * c + l], 1.f * want_sc[2 * c] * lo - 0.5f * want_m[2 * c]);
      EXPECT_EQ(out[64 * c + 32 + l], 1.f * want_sc[2 * c + 1] * hi - 0.5f * want_m[2 * c + 1]);
    }
  }
  for (int s = 0; s < 8; ++s) {  // the packing helpers agree with the hand decoding
    uint8_t a, m;
    q4k_scale_min(sc, s, &a, &m);
    EXPECT_EQ(a, want_sc[s]);
    EXPECT_EQ(m, want_m[s]);
    uint8_t packed[12] = {};
    for (int k = 0; k < 8; ++k) q4k_set_scale_min(packed, k, want_sc[k], want_m[k]);
    EXPECT_EQ(std::memcmp(packed, sc, 12), 0);
  }
}

TEST(Blocks, Q6_K) {
  BlockQ6_K b;
  for (int i = 0; i < 128; ++i) b.ql[i] = static_cast<uint8_t>(i * 7 + 3);
  for (int i = 0; i < 64; ++i) b.qh[i] = static_cast<uint8_t>(i * 13 + 5);
  for (int i = 0; i < 16; ++i) b.scales[i] = static_cast<int8_t>(i - 8);
  b.d = 0x3800;  // 0.5
  float out[256];
  dequantize_row(DType::Q6_K, &b, out, 256);
  // ggml loop form: per 128-half n, l < 32, four outputs at l, l+32, l+64, l+96.
  for (int n = 0; n < 2; ++n) {
    const uint8_t* ql = b.ql + 64 * n;
    const uint8_t* qh = b.qh + 32 * n;
    const int8_t* sc = b.scales + 8 * n;
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      EXPECT_EQ(out[128 * n + l], 0.5f * sc[is + 0] * q1);
      EXPECT_EQ(out[128 * n + l + 32], 0.5f * sc[is + 2] * q2);
      EXPECT_EQ(out[128 * n + l + 64], 0.5f * sc[is + 4] * q3);
      EXPECT_EQ(out[128 * n + l + 96], 0.5f * sc[is + 6] * q4);
    }
  }
}

TEST(Blocks, Q8_K) {
  BlockQ8_K b{};
  b.d = 0.25f;
  for (int i = 0; i < 256; ++i) b.qs[i] = static_cast<int8_t>(i - 128);
  float out[256];
  dequantize_row(DType::Q8_K, &b, out, 256);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(out[i], 0.25f * (i - 128));
  // and the quantiser fills bsums with group sums
  std::vector<float> x(256);
  for (int i = 0; i < 256; ++i) x[i] = std::sin(i * 0.1f);
  quantize_row(DType::Q8_K, x.data(), &b, 256);
  for (int g = 0; g < 16; ++g) {
    int s = 0;
    for (int l = 0; l < 16; ++l) s += b.qs[16 * g + l];
    EXPECT_EQ(b.bsums[g], s);
  }
}

}  // namespace
}  // namespace tandem
