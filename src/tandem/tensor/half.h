// Scalar conversions between f32 and the 16-bit float formats F16 (IEEE 754
// binary16) and BF16 (the top half of an f32).
//
// Contract: f32 -> 16-bit rounds to nearest, ties to even; overflow gives inf;
// NaN stays NaN (made quiet, sign kept); F16 subnormals are produced and read
// exactly. 16-bit -> f32 is exact. These are the reference conversions; SIMD
// kernels use F16C, which rounds the same way.
// Thread safety: pure functions.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace tandem {

inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t mant = h & 0x3ff;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24, exact in f32
    const float v = static_cast<float>(mant) * 0x1p-24f;
    return std::bit_cast<float>(std::bit_cast<uint32_t>(v) | sign);
  }
  if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

inline uint16_t f32_to_f16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  x &= 0x7fffffffu;
  if (x >= 0x7f800000u) {  // inf or NaN
    if (x == 0x7f800000u) return sign | 0x7c00;
    return sign | 0x7e00 | static_cast<uint16_t>((x >> 13) & 0x3ff);
  }
  if (x >= 0x477ff000u) return sign | 0x7c00;  // >= 65520 rounds to inf
  if (x < 0x38800000u) {                       // below 2^-14: subnormal (or zero) half
    // Scaling by 2^24 is exact; rint rounds half to even in the default FP mode.
    // A result of 1024 is the encoding of the smallest normal, which is right.
    const float units = std::bit_cast<float>(x) * 0x1p24f;
    return sign | static_cast<uint16_t>(std::nearbyint(units));
  }
  x -= 112u << 23;                 // rebias the exponent (127 -> 15)
  x += 0xfffu + ((x >> 13) & 1u);  // round to nearest even on the 13 dropped bits
  return sign | static_cast<uint16_t>(x >> 13);
}

inline float bf16_to_f32(uint16_t h) {
  return std::bit_cast<float>(static_cast<uint32_t>(h) << 16);
}

inline uint16_t f32_to_bf16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40);  // quiet NaN
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

}  // namespace tandem
