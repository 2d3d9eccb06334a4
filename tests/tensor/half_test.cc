#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>

#include "tandem/tensor/half.h"

namespace tandem {
namespace {

TEST(Half, KnownF16Encodings) {
  EXPECT_EQ(f32_to_f16(0.f), 0x0000);
  EXPECT_EQ(f32_to_f16(-0.f), 0x8000);
  EXPECT_EQ(f32_to_f16(1.f), 0x3c00);
  EXPECT_EQ(f32_to_f16(-2.f), 0xc000);
  EXPECT_EQ(f32_to_f16(0.5f), 0x3800);
  EXPECT_EQ(f32_to_f16(65504.f), 0x7bff);  // max finite
  EXPECT_EQ(f32_to_f16(65519.f), 0x7bff);  // rounds down
  EXPECT_EQ(f32_to_f16(65520.f), 0x7c00);  // tie rounds to even -> inf
  EXPECT_EQ(f32_to_f16(1e10f), 0x7c00);
  EXPECT_EQ(f32_to_f16(-INFINITY), 0xfc00);
  EXPECT_EQ(f32_to_f16(0x1p-14f), 0x0400);  // smallest normal
  EXPECT_EQ(f32_to_f16(0x1p-24f), 0x0001);  // smallest subnormal
  EXPECT_EQ(f32_to_f16(0x1p-25f), 0x0000);  // tie -> even (0)
  EXPECT_EQ(f32_to_f16(0x3p-25f), 0x0002);  // 1.5 units -> 2
  EXPECT_EQ(f32_to_f16(0x1.8p-24f * 1.0f), 0x0002);
  EXPECT_EQ(f32_to_f16(0x5p-26f), 0x0001);        // 1.25 units -> 1
  EXPECT_EQ(f32_to_f16(0x3ffp-24f), 0x03ff);      // largest subnormal
  EXPECT_EQ(f32_to_f16(0x7ffp-25f), 0x0400);      // 1023.5 units: tie -> 1024 = smallest normal
  EXPECT_EQ(f32_to_f16(1.f + 0x1p-11f), 0x3c00);  // tie, even stays
  EXPECT_EQ(f32_to_f16(1.f + 0x3p-11f), 0x3c02);  // tie, odd rounds up
  EXPECT_EQ(f32_to_f16(1.f + 0x1p-12f), 0x3c00);
  EXPECT_EQ(f32_to_f16(INFINITY), 0x7c00);
  const uint16_t nan = f32_to_f16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7c00, 0x7c00);
  EXPECT_NE(nan & 0x3ff, 0);
  // a signalling NaN whose payload lives only in the dropped bits stays NaN
  EXPECT_NE(f32_to_f16(std::bit_cast<float>(0x7f800001u)) & 0x3ff, 0);
}

TEST(Half, KnownF16Decodings) {
  EXPECT_EQ(f16_to_f32(0x3c00), 1.f);
  EXPECT_EQ(f16_to_f32(0x0001), 0x1p-24f);
  EXPECT_EQ(f16_to_f32(0x03ff), 0x3ffp-24f);
  EXPECT_EQ(f16_to_f32(0x8400), -0x1p-14f);
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.f);
  EXPECT_EQ(f16_to_f32(0x7c00), INFINITY);
  EXPECT_EQ(f16_to_f32(0xfc00), -INFINITY);
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7e00)));
  EXPECT_TRUE(std::signbit(f16_to_f32(0x8000)));
}

TEST(Half, AllF16RoundTrip) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_f16(f), h) << std::hex << h;
  }
}

TEST(Half, BF16) {
  EXPECT_EQ(f32_to_bf16(1.f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(-2.f), 0xc000);
  EXPECT_EQ(f32_to_bf16(1.f + 0x1p-8f), 0x3f80);  // tie, even stays
  EXPECT_EQ(f32_to_bf16(1.f + 0x3p-8f), 0x3f82);  // tie, odd rounds up
  EXPECT_EQ(f32_to_bf16(1.f + 0x1p-9f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(INFINITY), 0x7f80);
  EXPECT_EQ(f32_to_bf16(3.4e38f), 0x7f80);    // rounds past max -> inf
  EXPECT_EQ(f32_to_bf16(0x1p-133f), 0x0001);  // subnormal kept
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::bit_cast<float>(0x7f800001u)))));
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.f);
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = bf16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_bf16(f), h);
  }
}

}  // namespace
}  // namespace tandem
