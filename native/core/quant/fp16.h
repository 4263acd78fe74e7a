// IEEE half (binary16) and bfloat16 <-> float conversions, portable and exact:
// widening is exact, narrowing rounds to nearest, ties to even; NaN stays NaN, overflow gives inf.
// Functions are `static inline` on purpose: the per-ISA files are compiled with wider instruction
// sets, and internal linkage keeps their copies from replacing the baseline ones at link time.
#pragma once
#include <cstdint>
#include <cstring>

namespace hb {

static inline float f32_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
static inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// half bits -> float (exact).
static inline float fp16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24, exact in float.
    const float mag = static_cast<float>(mant) * f32_from_bits(0x33800000u);  // 2^-24
    return f32_from_bits(f32_bits(mag) | sign);
  }
  if (exp == 31) return f32_from_bits(sign | 0x7f800000u | (mant << 13));  // inf / NaN
  return f32_from_bits(sign | ((exp + 112) << 23) | (mant << 13));
}

// float -> half bits, round to nearest even.
static inline uint16_t f32_to_fp16(float f) {
  const uint32_t x = f32_bits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));  // NaN, quiet
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520 rounds to inf
  if (ax < 0x38800000u) {
    // Below the smallest normal half (2^-14): result is a subnormal count of 2^-24 units.
    if (ax < 0x33000000u) return sign;  // < 2^-25 (half of the smallest subnormal, tie -> 0)
    const uint32_t e = ax >> 23;                       // 102 .. 112
    const uint32_t m = (ax & 0x7fffffu) | 0x800000u;   // 24-bit significand
    const uint32_t shift = 126 - e;                    // 14 .. 24
    uint32_t q = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) ++q;  // may carry into the smallest normal: fine
    return static_cast<uint16_t>(sign | q);
  }
  // Normal: rebias the exponent, keep 10 mantissa bits, round on the 13 dropped bits
  // (a carry out of the mantissa correctly bumps the exponent, up to inf).
  uint32_t h = ((ax >> 13) - (112u << 10));
  const uint32_t rem = ax & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) ++h;
  return static_cast<uint16_t>(sign | h);
}

// bfloat16 bits -> float (exact).
static inline float bf16_to_f32(uint16_t b) { return f32_from_bits(static_cast<uint32_t>(b) << 16); }

// float -> bfloat16 bits, round to nearest even.
static inline uint16_t f32_to_bf16(float f) {
  const uint32_t x = f32_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // NaN, quiet
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

}  // namespace hb
