// Quantization: row quantizers for every type the engine loads, llama-quantize's type mixtures,
// and the streaming file driver. See quantize.h.
//
// Arithmetic: the searches below run in float, in the same order of operations as llama.cpp's
// reference quantizers (ggml-quants.c), so that files match llama-quantize's bit for bit where
// the compilers agree; fused multiply-adds are kept off for the same reason.
#include "quantize.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cmath>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>

#include "error.h"
#include "gguf.h"
#include "gguf_writer.h"
#include "quant/blocks.h"
#include "quant/fp16.h"
#include "quant/kernels.h"
#include "threadpool.h"

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace hb {

namespace {

// A group whose largest |x| is below this is quantized as all zeros.
constexpr float kGroupEps = 1e-15f;

// Round to nearest, ties to even (llama.cpp's nearest_int) for |v| <= 2^22 - 1: adding
// 1.5 * 2^23 leaves the integer in the low mantissa bits. Larger magnitudes saturate; NaN gives
// some value in [-2^22, 2^22) (callers clamp), so a degenerate scale is never undefined behaviour.
inline int round_even(float v) {
  v = v < -4194303.0f ? -4194303.0f : v;
  v = v > 4194303.0f ? 4194303.0f : v;
  const float biased = v + 12582912.0f;
  int32_t bits;
  std::memcpy(&bits, &biased, sizeof bits);
  return (bits & 0x007fffff) - 0x00400000;
}

// Round to nearest, ties away from zero (C's roundf) for |v| <= 2^22 - 1, without a libm call.
inline int round_away(float v) {
  int r = round_even(v);
  if (std::fabs(v - static_cast<float>(r)) == 0.5f) r = v > 0.0f ? static_cast<int>(v + 0.5f) : static_cast<int>(v - 0.5f);
  return r;
}

inline int clamp_int(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// float -> int by truncation (C's conversion) for v in [0, hi]; below 0 or NaN gives 0, above
// hi gives hi (the 32-element formats' "(int8_t)(x + 8.5f)" with its range made safe).
inline int trunc_clamped(float v, int hi) {
  if (!(v > 0.0f)) return 0;
  if (v >= static_cast<float>(hi)) return hi;
  return static_cast<int>(v);
}

inline float half(uint16_t h) { return fp16_to_f32(h); }

// ---------------------------------------------------------------------------------------------
// Scale searches

// Symmetric levels l in [-nmax, nmax-1] for x (n,), stored as l + nmax in levels (n,); returns
// the scale minimizing sum x^2 (x - scale * l)^2 over 19 starting points: the plain
// max -> -nmax mapping, then -(nmax + k/10) for k = -9..9. Each start fixes the levels; the scale
// is then the weighted least-squares fit sum(w x l) / sum(w l^2). The starts do not depend on
// each other, so their sums are accumulated side by side (each in element order, as one at a
// time would), which keeps the floating-point adds of different starts independent.
float search_symmetric(int n, int nmax, const float* x, int8_t* levels) {
  float amax = 0.0f, max = 0.0f;  // largest magnitude and its signed value
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupEps) {
    std::memset(levels, 0, static_cast<size_t>(n));
    return 0.0f;
  }
  constexpr int kStarts = 19;
  float iscales[kStarts];
  iscales[0] = static_cast<float>(-nmax) / max;
  for (int c = 1, k = -9; k <= 9; ++k)
    if (k != 0) iscales[c++] = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(k)) / max;
  float sumlx[kStarts] = {}, suml2[kStarts] = {};
  for (int i = 0; i < n; ++i) {
    const float w = x[i] * x[i];  // weight x^2
    const float wx = w * x[i];
    for (int c = 0; c < kStarts; ++c) {
      const float l = static_cast<float>(clamp_int(round_even(iscales[c] * x[i]), -nmax, nmax - 1));
      sumlx[c] += wx * l;
      suml2[c] += w * l * l;
    }
  }
  // The first start always counts; a later one must fit better (larger sumlx^2 / suml2).
  int chosen = 0;
  float scale = suml2[0] != 0.0f ? sumlx[0] / suml2[0] : 0.0f;
  float best = scale * sumlx[0];
  for (int c = 1; c < kStarts; ++c)
    if (suml2[c] > 0.0f && sumlx[c] * sumlx[c] > best * suml2[c]) {
      scale = sumlx[c] / suml2[c];
      best = scale * sumlx[c];
      chosen = c;
    }
  for (int i = 0; i < n; ++i)
    levels[i] = static_cast<int8_t>(nmax + clamp_int(round_even(iscales[chosen] * x[i]), -nmax, nmax - 1));
  return scale;
}

// Q3_K's group search: symmetric levels in [-nmax, nmax-1] (stored + nmax) starting from the
// max -> -nmax mapping, then up to 5 rounds of coordinate descent: each level is moved to its
// best value for the scale fitted without it, kept if the weighted fit (weights x^2) improves.
float search_q3(int n, int nmax, const float* x, int8_t* levels) {
  float amax = 0.0f, max = 0.0f;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupEps) {
    std::memset(levels, 0, static_cast<size_t>(n));
    return 0.0f;
  }
  const float iscale = static_cast<float>(-nmax) / max;
  float sumlx = 0.0f, suml2 = 0.0f;
  for (int i = 0; i < n; ++i) {
    const int l = clamp_int(round_even(iscale * x[i]), -nmax, nmax - 1);
    levels[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * static_cast<float>(l);
    suml2 += w * static_cast<float>(l) * static_cast<float>(l);
  }
  for (int round = 0; round < 5; ++round) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      const float li = static_cast<float>(levels[i]);
      float slx = sumlx - w * x[i] * li;
      if (slx > 0.0f) {
        float sl2 = suml2 - w * li * li;
        const int nl = clamp_int(round_even(x[i] * sl2 / slx), -nmax, nmax - 1);
        if (nl != levels[i]) {
          slx += w * x[i] * static_cast<float>(nl);
          sl2 += w * static_cast<float>(nl) * static_cast<float>(nl);
          // Better if slx^2 / sl2 > sumlx^2 / suml2.
          if (sl2 > 0.0f && slx * slx * suml2 > sumlx * sumlx * sl2) {
            levels[i] = static_cast<int8_t>(nl);
            sumlx = slx;
            suml2 = sl2;
            ++changed;
          }
        }
      }
    }
    if (!changed) break;
  }
  for (int i = 0; i < n; ++i) levels[i] = static_cast<int8_t>(levels[i] + nmax);
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// Affine levels l in [0, nmax] with x ~ scale * l - min_out (min_out >= 0) for x (n,) under
// weights w (n,): start from the min..max range, then try nstep+1 stretched ranges
// (nmax + rmin + rdelta * k levels over the span); for each, fit scale and offset by weighted
// least squares and keep the fit with the smallest weighted error (|e| if use_mad, else e^2).
// aux (n,) is scratch.
float search_affine(int n, int nmax, const float* x, const float* w, uint8_t* levels, float* min_out, uint8_t* aux,
                    float rmin, float rdelta, int nstep, bool use_mad) {
  float min = x[0], max = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (min > 0.0f) min = 0.0f;  // the offset only ever moves the range down to include 0
  if (max == min) {
    std::memset(levels, 0, static_cast<size_t>(n));
    *min_out = -min;
    return 0.0f;
  }
  float iscale = static_cast<float>(nmax) / (max - min);
  float scale = 1.0f / iscale;
  float best_error = 0.0f;
  for (int i = 0; i < n; ++i) {
    const int l = clamp_int(round_even(iscale * (x[i] - min)), 0, nmax);
    levels[i] = static_cast<uint8_t>(l);
    float diff = scale * static_cast<float>(l) + min - x[i];
    diff = use_mad ? std::fabs(diff) : diff * diff;
    best_error += w[i] * diff;
  }
  for (int k = 0; k <= nstep; ++k) {
    iscale = (rmin + rdelta * static_cast<float>(k) + static_cast<float>(nmax)) / (max - min);
    float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
    for (int i = 0; i < n; ++i) {
      const int l = clamp_int(round_even(iscale * (x[i] - min)), 0, nmax);
      aux[i] = static_cast<uint8_t>(l);
      const float fl = static_cast<float>(l);
      sum_l += w[i] * fl;
      sum_l2 += w[i] * fl * fl;
      sum_xl += w[i] * fl * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (det > 0.0f) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
      if (this_min > 0.0f) {
        this_min = 0.0f;
        this_scale = sum_xl / sum_l2;
      }
      float error = 0.0f;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * static_cast<float>(aux[i]) + this_min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        error += w[i] * diff;
      }
      if (error < best_error) {
        std::memcpy(levels, aux, static_cast<size_t>(n));
        best_error = error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *min_out = -min;
  return scale;
}

// Index of the kIq4nlValues entry nearest to v (ties to the larger): the table is sorted, so
// entry i wins once 2v reaches kIq4nlValues[i-1] + kIq4nlValues[i] (exact in float).
inline int nl_index(float v) {
  const float v2 = v + v;
  int idx = 0;
  for (int step = 8; step > 0; step >>= 1) {
    const int j = idx + step;
    if (v2 >= static_cast<float>(kIq4nlValues[j - 1] + kIq4nlValues[j])) idx = j;
  }
  return idx;
}

// Best scale for one 32-element group on the non-linear table (weights x^2): fit from the
// max -> -127 mapping, then 15 more inverse scales (k - 127) / max for k = -7..7. Returns 0 for
// an all-zero group. The 16 fits are independent and accumulated side by side, each in element
// order.
float search_nl_scale(const float* x) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < 32; ++j) {
    const float ax = std::fabs(x[j]);
    if (ax > amax) {
      amax = ax;
      max = x[j];
    }
  }
  if (amax < kGroupEps) return 0.0f;
  constexpr int kFits = 16;
  float ids[kFits];
  ids[0] = 1.0f / (-max / static_cast<float>(kIq4nlValues[0]));
  for (int k = -7; k <= 7; ++k) ids[k + 8] = static_cast<float>(k + kIq4nlValues[0]) / max;
  float sumqx[kFits] = {}, sumq2[kFits] = {};
  for (int j = 0; j < 32; ++j) {
    const float w = x[j] * x[j];
    for (int c = 0; c < kFits; ++c) {
      const float q = static_cast<float>(kIq4nlValues[nl_index(ids[c] * x[j])]);
      sumqx[c] += w * q * x[j];
      sumq2[c] += w * q * q;
    }
  }
  float d = sumq2[0] > 0.0f ? sumqx[0] / sumq2[0] : 0.0f;
  float best = d * sumqx[0];
  for (int c = 1; c < kFits; ++c)
    if (sumq2[c] > 0.0f && sumqx[c] * sumqx[c] > best * sumq2[c]) {
      d = sumqx[c] / sumq2[c];
      best = d * sumqx[c];
    }
  return d;
}

// ---------------------------------------------------------------------------------------------
// 32-element blocks

// x (32,) -> Q4_0: d = max / -8 (the largest magnitude maps to level 0 or 15).
void block_q4_0(const float* x, BlockQ4_0& b) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < 32; ++j)
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  const float d = max / -8.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  b.d = f32_to_fp16(d);
  for (int j = 0; j < 16; ++j) {
    const int q0 = trunc_clamped(x[j] * id + 8.5f, 15);
    const int q1 = trunc_clamped(x[j + 16] * id + 8.5f, 15);
    b.qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
  }
}

// x (32,) -> Q4_1: min..max in 15 steps.
void block_q4_1(const float* x, BlockQ4_1& b) {
  float min = x[0], max = x[0];
  for (int j = 1; j < 32; ++j) {
    min = std::min(min, x[j]);
    max = std::max(max, x[j]);
  }
  const float d = (max - min) / 15.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  b.d = f32_to_fp16(d);
  b.m = f32_to_fp16(min);
  for (int j = 0; j < 16; ++j) {
    const int q0 = trunc_clamped((x[j] - min) * id + 0.5f, 15);
    const int q1 = trunc_clamped((x[j + 16] - min) * id + 0.5f, 15);
    b.qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
  }
}

// Packs 32 5-bit levels: low nibbles as Q4_0, bit 4 of level j into bit j of qh.
template <typename Block>
void pack_q5(const int* q, Block& b) {
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    b.qs[j] = static_cast<uint8_t>((q[j] & 15) | ((q[j + 16] & 15) << 4));
    qh |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
    qh |= static_cast<uint32_t>((q[j + 16] >> 4) & 1) << (j + 16);
  }
  std::memcpy(b.qh, &qh, 4);
}

// x (32,) -> Q5_0: d = max / -16.
void block_q5_0(const float* x, BlockQ5_0& b) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < 32; ++j)
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  const float d = max / -16.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  b.d = f32_to_fp16(d);
  int q[32];
  for (int j = 0; j < 32; ++j) q[j] = trunc_clamped(x[j] * id + 16.5f, 31);
  pack_q5(q, b);
}

// x (32,) -> Q5_1: min..max in 31 steps.
void block_q5_1(const float* x, BlockQ5_1& b) {
  float min = x[0], max = x[0];
  for (int j = 1; j < 32; ++j) {
    min = std::min(min, x[j]);
    max = std::max(max, x[j]);
  }
  const float d = (max - min) / 31.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  b.d = f32_to_fp16(d);
  b.m = f32_to_fp16(min);
  int q[32];
  for (int j = 0; j < 32; ++j) q[j] = trunc_clamped((x[j] - min) * id + 0.5f, 31);
  pack_q5(q, b);
}

// x (32,) -> Q8_0: d = max|x| / 127, levels rounded half away from zero.
void block_q8_0(const float* x, BlockQ8_0& b) {
  float amax = 0.0f;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  b.d = f32_to_fp16(d);
  for (int j = 0; j < 32; ++j) {
    float v = x[j] * id;
    v = v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : (v == v ? v : 0.0f));
    b.qs[j] = static_cast<int8_t>(round_away(v));
  }
}

// x (32,) -> IQ4_NL: one fp16 scale (best of the search) and table indices.
void block_iq4_nl(const float* x, BlockIQ4_NL& b) {
  const float d = search_nl_scale(x);
  b.d = f32_to_fp16(d);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < 16; ++j)
    b.qs[j] = static_cast<uint8_t>(nl_index(id * x[j]) | (nl_index(id * x[j + 16]) << 4));
}

// ---------------------------------------------------------------------------------------------
// 256-element super-blocks

// Packs 256 2-bit values: byte (h * 32 + l) holds elements 128h + l + 32k in bits 2k..2k+1.
void pack_2bit(const uint8_t* levels, uint8_t* qs) {
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      const uint8_t* v = levels + 128 * h + l;
      qs[32 * h + l] = static_cast<uint8_t>(v[0] | (v[32] << 2) | (v[64] << 4) | (v[96] << 6));
    }
}

// x (256,) -> Q2_K: per 16-group an affine fit (weights |x|, mean-absolute error), then the
// group scales and mins as 4-bit multiples of two fp16 super-scales, then requantized levels.
void block_q2_k(const float* x, BlockQ2_K& b) {
  uint8_t levels[256], aux[16];
  float weights[16], scales[16], mins[16];
  float max_scale = 0.0f, max_min = 0.0f;
  for (int g = 0; g < 16; ++g) {
    for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * g + l]);
    scales[g] = search_affine(16, 3, x + 16 * g, weights, levels + 16 * g, &mins[g], aux, -0.5f, 0.1f, 15, true);
    max_scale = std::max(max_scale, scales[g]);
    max_min = std::max(max_min, mins[g]);
  }
  if (max_scale > 0.0f) {
    const float iscale = 15.0f / max_scale;
    for (int g = 0; g < 16; ++g) b.scales[g] = static_cast<uint8_t>(clamp_int(round_even(iscale * scales[g]), 0, 15));
    b.d = f32_to_fp16(max_scale / 15.0f);
  } else {
    std::memset(b.scales, 0, sizeof b.scales);
    b.d = f32_to_fp16(0.0f);
  }
  if (max_min > 0.0f) {
    const float iscale = 15.0f / max_min;
    for (int g = 0; g < 16; ++g)
      b.scales[g] = static_cast<uint8_t>(b.scales[g] | (clamp_int(round_even(iscale * mins[g]), 0, 15) << 4));
    b.dmin = f32_to_fp16(max_min / 15.0f);
  } else {
    b.dmin = f32_to_fp16(0.0f);
  }
  for (int g = 0; g < 16; ++g) {
    const float d = half(b.d) * static_cast<float>(b.scales[g] & 15);
    if (d == 0.0f) continue;
    const float dm = half(b.dmin) * static_cast<float>(b.scales[g] >> 4);
    for (int i = 0; i < 16; ++i)
      levels[16 * g + i] = static_cast<uint8_t>(clamp_int(round_even((x[16 * g + i] + dm) / d), 0, 3));
  }
  pack_2bit(levels, b.qs);
}

// x (256,) -> Q3_K: per 16-group a symmetric fit (search_q3), the 16 group scales as 6-bit
// multiples of one fp16 super-scale (-32 maps to the largest), then requantized levels.
void block_q3_k(const float* x, BlockQ3_K& b) {
  int8_t levels[256];
  float scales[16];
  float amax = 0.0f, max_scale = 0.0f;
  for (int g = 0; g < 16; ++g) {
    scales[g] = search_q3(16, 4, x + 16 * g, levels + 16 * g);
    if (std::fabs(scales[g]) > amax) {
      amax = std::fabs(scales[g]);
      max_scale = scales[g];
    }
  }
  std::memset(b.scales, 0, sizeof b.scales);
  if (max_scale != 0.0f) {
    const float iscale = -32.0f / max_scale;
    for (int g = 0; g < 16; ++g) {
      const int l = clamp_int(round_even(iscale * scales[g]), -32, 31) + 32;  // 6 bits
      // Low nibbles: groups 0-7 in bytes 0-7, groups 8-15 in their high halves; the top two
      // bits of group g go to byte 8 + g % 4 at bit 2 * (g / 4).
      if (g < 8) b.scales[g] = static_cast<uint8_t>(l & 15);
      else b.scales[g - 8] = static_cast<uint8_t>(b.scales[g - 8] | ((l & 15) << 4));
      b.scales[8 + g % 4] = static_cast<uint8_t>(b.scales[8 + g % 4] | ((l >> 4) << (2 * (g / 4))));
    }
    b.d = f32_to_fp16(1.0f / iscale);
  } else {
    b.d = f32_to_fp16(0.0f);
  }
  for (int g = 0; g < 16; ++g) {
    const int low = g < 8 ? (b.scales[g] & 15) : (b.scales[g - 8] >> 4);
    const int sc = (low | (((b.scales[8 + g % 4] >> (2 * (g / 4))) & 3) << 4)) - 32;
    const float d = half(b.d) * static_cast<float>(sc);
    if (d == 0.0f) continue;
    for (int i = 0; i < 16; ++i)
      levels[16 * g + i] = static_cast<int8_t>(clamp_int(round_even(x[16 * g + i] / d), -4, 3) + 4);
  }
  // Bit 2 of each level (set when level >= 4) goes to hmask: element j at byte j % 32, bit j / 32.
  std::memset(b.hmask, 0, sizeof b.hmask);
  uint8_t low2[256];
  for (int j = 0; j < 256; ++j) {
    int l = levels[j];
    if (l > 3) {
      b.hmask[j % 32] = static_cast<uint8_t>(b.hmask[j % 32] | (1 << (j / 32)));
      l -= 4;
    }
    low2[j] = static_cast<uint8_t>(l);
  }
  pack_2bit(low2, b.qs);
}

// The 8 6-bit scales and 8 6-bit mins of Q4_K / Q5_K in their 12 bytes: entries 0-3 in the low
// 6 bits of bytes 0-3 (scales) and 4-7 (mins); entries 4-7 as nibbles in bytes 8-11 (scale low,
// min high) with their top two bits in bits 6-7 of bytes 0-3 (scales) and 4-7 (mins).
void pack_scale_min_k4(const uint8_t* ls, const uint8_t* lm, uint8_t* s) {
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      s[j] = ls[j];
      s[j + 4] = lm[j];
    } else {
      s[j + 4] = static_cast<uint8_t>((ls[j] & 15) | ((lm[j] & 15) << 4));
      s[j - 4] = static_cast<uint8_t>(s[j - 4] | ((ls[j] >> 4) << 6));
      s[j] = static_cast<uint8_t>(s[j] | ((lm[j] >> 4) << 6));
    }
  }
}

inline void unpack_scale_min_k4(int j, const uint8_t* s, int& sc, int& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
    m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// Shared by Q4_K (nmax 15) and Q5_K (nmax 31): per 32-group an affine fit with weights
// rms(x) + |x|, scales and mins as 6-bit multiples of two fp16 super-scales, requantized levels
// (256,) in levels. Writes d, dmin and scales of the block.
template <typename Block>
void fit_k4_groups(const float* x, Block& b, int nmax, float rmin, float rdelta, int nstep, uint8_t* levels) {
  uint8_t aux[32], ls[8], lm[8];
  float weights[32], scales[8], mins[8];
  float max_scale = 0.0f, max_min = 0.0f;
  for (int g = 0; g < 8; ++g) {
    const float* xg = x + 32 * g;
    float sum_x2 = 0.0f;
    for (int l = 0; l < 32; ++l) sum_x2 += xg[l] * xg[l];
    const float av_x = std::sqrt(sum_x2 / 32.0f);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xg[l]);
    scales[g] = search_affine(32, nmax, xg, weights, levels + 32 * g, &mins[g], aux, rmin, rdelta, nstep, false);
    max_scale = std::max(max_scale, scales[g]);
    max_min = std::max(max_min, mins[g]);
  }
  const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
  for (int g = 0; g < 8; ++g) {
    ls[g] = static_cast<uint8_t>(clamp_int(round_even(inv_scale * scales[g]), 0, 63));
    lm[g] = static_cast<uint8_t>(clamp_int(round_even(inv_min * mins[g]), 0, 63));
  }
  pack_scale_min_k4(ls, lm, b.scales);
  b.d = f32_to_fp16(max_scale / 63.0f);
  b.dmin = f32_to_fp16(max_min / 63.0f);
  for (int g = 0; g < 8; ++g) {
    int sc, m;
    unpack_scale_min_k4(g, b.scales, sc, m);
    const float d = half(b.d) * static_cast<float>(sc);
    if (d == 0.0f) continue;
    const float dm = half(b.dmin) * static_cast<float>(m);
    for (int i = 0; i < 32; ++i)
      levels[32 * g + i] = static_cast<uint8_t>(clamp_int(round_even((x[32 * g + i] + dm) / d), 0, nmax));
  }
}

// x (256,) -> Q4_K. Nibbles: byte 32c + l holds elements 64c + l (low) and 64c + 32 + l (high).
void block_q4_k(const float* x, BlockQ4_K& b) {
  uint8_t levels[256];
  fit_k4_groups(x, b, 15, -1.0f, 0.1f, 20, levels);
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l)
      b.qs[32 * c + l] = static_cast<uint8_t>(levels[64 * c + l] | (levels[64 * c + 32 + l] << 4));
}

// x (256,) -> Q5_K: Q4_K's nibble layout plus the 5th bits: element 64c + l sets bit 2c of
// qh[l], element 64c + 32 + l sets bit 2c + 1.
void block_q5_k(const float* x, BlockQ5_K& b) {
  uint8_t levels[256];
  fit_k4_groups(x, b, 31, -0.5f, 0.1f, 15, levels);
  std::memset(b.qh, 0, sizeof b.qh);
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) {
      const int lo = levels[64 * c + l], hi = levels[64 * c + 32 + l];
      if (lo > 15) b.qh[l] = static_cast<uint8_t>(b.qh[l] | (1 << (2 * c)));
      if (hi > 15) b.qh[l] = static_cast<uint8_t>(b.qh[l] | (2 << (2 * c)));
      b.qs[32 * c + l] = static_cast<uint8_t>((lo & 15) | ((hi & 15) << 4));
    }
}

// x (256,) -> Q6_K: per 16-group a symmetric fit (search_symmetric, 64 levels), group scales as
// int8 multiples of one fp16 super-scale (-128 maps to the largest), requantized levels.
void block_q6_k(const float* x, BlockQ6_K& b) {
  int8_t levels[256];
  float scales[16];
  float amax = 0.0f, max_scale = 0.0f;
  for (int g = 0; g < 16; ++g) {
    scales[g] = search_symmetric(16, 32, x + 16 * g, levels + 16 * g);
    if (std::fabs(scales[g]) > amax) {
      amax = std::fabs(scales[g]);
      max_scale = scales[g];
    }
  }
  if (amax < kGroupEps) {
    std::memset(&b, 0, sizeof b);
    return;
  }
  const float iscale = -128.0f / max_scale;
  b.d = f32_to_fp16(1.0f / iscale);
  for (int g = 0; g < 16; ++g) b.scales[g] = static_cast<int8_t>(std::min(127, round_even(iscale * scales[g])));
  for (int g = 0; g < 16; ++g) {
    const float d = half(b.d) * static_cast<float>(b.scales[g]);
    if (d == 0.0f) continue;
    for (int i = 0; i < 16; ++i)
      levels[16 * g + i] = static_cast<int8_t>(clamp_int(round_even(x[16 * g + i] / d), -32, 31) + 32);
  }
  // Layout as documented on BlockQ6_K: per 128-element half, ql nibbles and qh bit pairs.
  for (int h = 0; h < 2; ++h) {
    uint8_t* ql = b.ql + 64 * h;
    uint8_t* qh = b.qh + 32 * h;
    const int8_t* v = levels + 128 * h;
    for (int l = 0; l < 32; ++l) {
      ql[l] = static_cast<uint8_t>((v[l] & 15) | ((v[l + 64] & 15) << 4));
      ql[l + 32] = static_cast<uint8_t>((v[l + 32] & 15) | ((v[l + 96] & 15) << 4));
      qh[l] = static_cast<uint8_t>((v[l] >> 4) | ((v[l + 32] >> 4) << 2) | ((v[l + 64] >> 4) << 4) | ((v[l + 96] >> 4) << 6));
    }
  }
}

// x (256,) -> IQ4_XS: per 32-group the IQ4_NL scale search, the group scales as 6-bit
// multiples of one fp16 super-scale (-32 maps to the largest), indices refitted to each group's
// rounded scale.
void block_iq4_xs(const float* x, BlockIQ4_XS& b) {
  float scales[8];
  float amax = 0.0f, max_scale = 0.0f;
  for (int g = 0; g < 8; ++g) {
    scales[g] = search_nl_scale(x + 32 * g);
    if (std::fabs(scales[g]) > amax) {
      amax = std::fabs(scales[g]);
      max_scale = scales[g];
    }
  }
  const float d = -max_scale / 32.0f;
  b.d = f32_to_fp16(d);
  b.scales_h = 0;
  std::memset(b.scales_l, 0, sizeof b.scales_l);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int g = 0; g < 8; ++g) {
    int l = clamp_int(round_even(id * scales[g]), -32, 31);
    // Indices fit the unrounded super-scale times the group's level (as llama.cpp does).
    const float dl = d * static_cast<float>(l);
    const float idl = dl != 0.0f ? 1.0f / dl : 0.0f;
    const float* xg = x + 32 * g;
    uint8_t* qs = b.qs + 16 * g;
    for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>(nl_index(idl * xg[j]) | (nl_index(idl * xg[j + 16]) << 4));
    l += 32;
    b.scales_l[g / 2] = static_cast<uint8_t>(b.scales_l[g / 2] | ((l & 15) << (4 * (g % 2))));
    b.scales_h = static_cast<uint16_t>(b.scales_h | ((l >> 4) << (2 * g)));
  }
}

template <typename Block, void (*Fn)(const float*, Block&)>
void quantize_blocks(const float* x, void* y, int64_t n, int block) {
  Block* out = static_cast<Block*>(y);
  for (int64_t i = 0; i < n / block; ++i) Fn(x + i * block, out[i]);
}

int64_t block_size_of(GgmlType t) { return ggml_type_info(static_cast<uint32_t>(t)).block_size; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Rows

bool can_quantize_to(GgmlType t) {
  switch (t) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16: case GgmlType::Q4_0: case GgmlType::Q4_1:
    case GgmlType::Q5_0: case GgmlType::Q5_1: case GgmlType::Q8_0: case GgmlType::Q2_K: case GgmlType::Q3_K:
    case GgmlType::Q4_K: case GgmlType::Q5_K: case GgmlType::Q6_K: case GgmlType::IQ4_NL: case GgmlType::IQ4_XS:
      return true;
    default:
      return false;
  }
}

size_t quant_row_bytes(GgmlType t, int64_t n) {
  const GgmlTypeInfo info = ggml_type_info(static_cast<uint32_t>(t));
  if (!info.name || info.block_size <= 0) return 0;
  return static_cast<size_t>(n / info.block_size) * info.type_size;
}

void quantize_row(GgmlType t, const float* x, void* y, int64_t n) {
  if (!can_quantize_to(t))
    fail("UNSUPPORTED_TENSOR_TYPE", std::string("Cannot quantize to type ") +
                                        (ggml_type_name(t) ? ggml_type_name(t) : std::to_string(static_cast<uint32_t>(t))));
  const int64_t bs = block_size_of(t);
  if (n < 0 || n % bs != 0)
    fail("INVALID_ARGUMENT", "Expected a row length divisible by the " + std::string(ggml_type_name(t)) + " block size " +
                                 std::to_string(bs) + " but received " + std::to_string(n));
  switch (t) {
    case GgmlType::F32:
      std::memcpy(y, x, static_cast<size_t>(n) * sizeof(float));
      break;
    case GgmlType::F16: {
      uint16_t* out = static_cast<uint16_t*>(y);
      for (int64_t i = 0; i < n; ++i) out[i] = f32_to_fp16(x[i]);
      break;
    }
    case GgmlType::BF16: {
      uint16_t* out = static_cast<uint16_t*>(y);
      for (int64_t i = 0; i < n; ++i) out[i] = f32_to_bf16(x[i]);
      break;
    }
    case GgmlType::Q4_0: quantize_blocks<BlockQ4_0, block_q4_0>(x, y, n, 32); break;
    case GgmlType::Q4_1: quantize_blocks<BlockQ4_1, block_q4_1>(x, y, n, 32); break;
    case GgmlType::Q5_0: quantize_blocks<BlockQ5_0, block_q5_0>(x, y, n, 32); break;
    case GgmlType::Q5_1: quantize_blocks<BlockQ5_1, block_q5_1>(x, y, n, 32); break;
    case GgmlType::Q8_0: quantize_blocks<BlockQ8_0, block_q8_0>(x, y, n, 32); break;
    case GgmlType::IQ4_NL: quantize_blocks<BlockIQ4_NL, block_iq4_nl>(x, y, n, 32); break;
    case GgmlType::Q2_K: quantize_blocks<BlockQ2_K, block_q2_k>(x, y, n, 256); break;
    case GgmlType::Q3_K: quantize_blocks<BlockQ3_K, block_q3_k>(x, y, n, 256); break;
    case GgmlType::Q4_K: quantize_blocks<BlockQ4_K, block_q4_k>(x, y, n, 256); break;
    case GgmlType::Q5_K: quantize_blocks<BlockQ5_K, block_q5_k>(x, y, n, 256); break;
    case GgmlType::Q6_K: quantize_blocks<BlockQ6_K, block_q6_k>(x, y, n, 256); break;
    case GgmlType::IQ4_XS: quantize_blocks<BlockIQ4_XS, block_iq4_xs>(x, y, n, 256); break;
    default: break;
  }
}

// ---------------------------------------------------------------------------------------------
// Presets

const std::vector<QuantPreset>& quant_presets() {
  // general.file_type numbers are llama.cpp's LLAMA_FTYPE_* values.
  static const std::vector<QuantPreset> presets = {
      {"F32", 0, GgmlType::F32},       {"F16", 1, GgmlType::F16},       {"BF16", 32, GgmlType::BF16},
      {"Q4_0", 2, GgmlType::Q4_0},     {"Q4_1", 3, GgmlType::Q4_1},     {"Q5_0", 8, GgmlType::Q5_0},
      {"Q5_1", 9, GgmlType::Q5_1},     {"Q8_0", 7, GgmlType::Q8_0},     {"Q2_K", 10, GgmlType::Q2_K},
      {"Q3_K_S", 11, GgmlType::Q3_K},  {"Q3_K_M", 12, GgmlType::Q3_K},  {"Q3_K_L", 13, GgmlType::Q3_K},
      {"Q4_K_S", 14, GgmlType::Q4_K},  {"Q4_K_M", 15, GgmlType::Q4_K},  {"Q5_K_S", 16, GgmlType::Q5_K},
      {"Q5_K_M", 17, GgmlType::Q5_K},  {"Q6_K", 18, GgmlType::Q6_K},    {"IQ4_NL", 25, GgmlType::IQ4_NL},
      {"IQ4_XS", 30, GgmlType::IQ4_XS},
  };
  return presets;
}

const QuantPreset* find_quant_preset(const std::string& name) {
  for (const QuantPreset& p : quant_presets())
    if (name == p.name) return &p;
  return nullptr;
}

namespace {

bool is_float_type(GgmlType t) { return t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16; }

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }
bool ends_with(const std::string& s, const char* tail) {
  const size_t n = std::strlen(tail);
  return s.size() >= n && s.compare(s.size() - n, n, tail) == 0;
}

// "blk.<n>." -> n, else -1 (tensors outside the layers).
int layer_of(const std::string& name) {
  if (name.compare(0, 4, "blk.") != 0) return -1;
  size_t i = 4;
  long v = 0;
  bool any = false;
  while (i < name.size() && name[i] >= '0' && name[i] <= '9' && v < 100000000) {
    v = v * 10 + (name[i] - '0');
    ++i;
    any = true;
  }
  return any ? static_cast<int>(v) : -1;
}

// Which matrices get quantized at all (llama-quantize's list): 2-D and up, named *weight,
// not norms, router gates, positional or token-type embeddings, nor the small special tensors
// of some architectures.
bool quantizable(const PlanTensor& t) {
  int dims = 1;  // ggml's n_dims: trailing 1-sized dimensions do not count
  for (int d = 3; d >= 1; --d)
    if (t.ne[d] > 1) {
      dims = d + 1;
      break;
    }
  if (dims < 2) return false;
  const std::string& n = t.name;
  if (!ends_with(n, "weight")) return false;
  static const char* const kExcluded[] = {
      "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj",
      "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight",
      "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight",
      "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight",
      "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight",
      "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight",
      ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger",
      "a.rvq.codebook", "mm.a.code_embd",
  };
  for (const char* part : kExcluded)
    if (contains(n, part)) return false;
  if (n == "position_embd.weight" || n == "token_types.weight") return false;
  return true;
}

enum class Role { TokenEmbd, AttnQ, AttnK, AttnV, AttnQkv, AttnKvB, AttnOutput, FfnUp, FfnGate, FfnDown, Output, Other };

Role role_of(const std::string& n) {
  if (n == "output.weight") return Role::Output;
  if (n == "token_embd.weight" || n == "per_layer_token_embd.weight") return Role::TokenEmbd;
  if (contains(n, "attn_qkv.weight")) return Role::AttnQkv;
  if (contains(n, "attn_kv_b.weight")) return Role::AttnKvB;
  if (contains(n, "attn_v.weight")) return Role::AttnV;
  if (contains(n, "attn_k.weight")) return Role::AttnK;
  if (contains(n, "attn_q.weight")) return Role::AttnQ;
  if (contains(n, "attn_output.weight")) return Role::AttnOutput;
  if (contains(n, "ffn_up")) return Role::FfnUp;
  if (contains(n, "ffn_gate")) return Role::FfnGate;
  if (contains(n, "ffn_down")) return Role::FfnDown;
  return Role::Other;
}

bool is_attn_v_like(Role r) { return r == Role::AttnV || r == Role::AttnQkv || r == Role::AttnKvB; }

// llama-quantize's "use more bits" layers: the first and last eighth, and every third between.
bool use_more_bits(int i_layer, int n_layer) {
  return i_layer < n_layer / 8 || i_layer >= 7 * n_layer / 8 || (i_layer - n_layer / 8) % 3 == 2;
}

// Per-file state of the mixture rules: counters advance in output order, as in llama-quantize.
struct MixtureState {
  const PlanModel& model;
  const std::string preset;
  bool tied_embeddings = true;  // no output.weight: token_embd doubles as the output matrix
  int n_attn_v = 0, i_attn_v = 0, i_ffn_down = 0;
  bool falcon = false, is_70b = false;
  int n_gqa = 0;
  MixtureState(const PlanModel& m, const std::string& p) : model(m), preset(p) {
    falcon = m.arch == "falcon";
    is_70b = m.arch == "llama" && m.n_layer == 80 && m.n_head != m.n_head_kv;
    n_gqa = m.n_head_kv > 0 ? m.n_head / m.n_head_kv : 0;
  }
  bool is(const char* p) const { return preset == p; }
};

// The mixture rule for one quantizable tensor (llama-quantize's, restricted to these presets).
GgmlType mixture_type(MixtureState& s, const PlanTensor& t, Role role, GgmlType type) {
  const PlanModel& m = s.model;
  if (role == Role::Output || (s.tied_embeddings && role == Role::TokenEmbd)) {
    // The output matrix is the most sensitive: Q6_K unless the preset is Q8_0 already.
    if (s.falcon || t.ne[0] % block_size_of(type) != 0) type = GgmlType::Q8_0;
    else if (type != GgmlType::Q8_0) type = GgmlType::Q6_K;
  } else if (role == Role::TokenEmbd) {
    // Kept at the preset's type.
  } else if (is_attn_v_like(role)) {
    if (s.is("Q2_K")) type = s.n_gqa >= 4 ? GgmlType::Q4_K : GgmlType::Q3_K;
    else if (s.is("Q3_K_M")) type = s.i_attn_v < 2 ? GgmlType::Q5_K : GgmlType::Q4_K;
    else if (s.is("Q3_K_L")) type = GgmlType::Q5_K;
    else if ((s.is("IQ4_NL") || s.is("IQ4_XS")) && s.n_gqa >= 4) type = GgmlType::Q5_K;
    else if ((s.is("Q4_K_M") || s.is("Q5_K_M")) && use_more_bits(s.i_attn_v, s.n_attn_v)) type = GgmlType::Q6_K;
    else if (s.is("Q4_K_S") && s.i_attn_v < 4) type = GgmlType::Q5_K;
    // 70B: 8 heads share each attn_v, so it is small; more bits cost little.
    if (s.is_70b && (type == GgmlType::Q3_K || type == GgmlType::Q4_K)) type = GgmlType::Q5_K;
    if (m.n_expert == 8) type = GgmlType::Q8_0;
    ++s.i_attn_v;
  } else if (role == Role::AttnK) {
    if (m.n_expert == 8) type = GgmlType::Q8_0;
  } else if (role == Role::FfnDown) {
    int i_layer = s.i_ffn_down;
    const int n_layer = m.n_layer;
    if (m.n_expert > 1) {
      // Experts are not stored layer by layer; the layer comes from the name.
      const int l = layer_of(t.name);
      if (l >= 0 && l < n_layer) i_layer = l;
    }
    if (s.is("Q2_K")) {
      type = GgmlType::Q3_K;
    } else if (s.is("Q3_K_M")) {
      type = i_layer < n_layer / 16                          ? GgmlType::Q5_K
             : (!s.falcon || use_more_bits(i_layer, n_layer)) ? GgmlType::Q4_K
                                                              : GgmlType::Q3_K;
    } else if (s.is("Q3_K_L")) {
      type = s.falcon ? GgmlType::Q4_K : GgmlType::Q5_K;
    } else if (s.is("Q4_K_M")) {
      if (s.falcon)
        type = i_layer < n_layer / 16 ? GgmlType::Q6_K : use_more_bits(i_layer, n_layer) ? GgmlType::Q5_K : GgmlType::Q4_K;
      else if (use_more_bits(i_layer, n_layer))
        type = GgmlType::Q6_K;
    } else if (i_layer < n_layer / 8 && (s.is("IQ4_NL") || s.is("IQ4_XS"))) {
      type = GgmlType::Q5_K;
    } else if (s.is("Q5_K_M") && use_more_bits(i_layer, n_layer)) {
      type = GgmlType::Q6_K;
    } else if (s.is("Q4_K_S") && !s.falcon && i_layer < n_layer / 8) {
      type = GgmlType::Q5_K;
    }
    ++s.i_ffn_down;
  } else if (role == Role::AttnOutput) {
    if (!s.falcon) {
      if (m.n_expert == 8) {
        if (s.is("Q2_K") || s.is("Q3_K_S") || s.is("Q3_K_M") || s.is("IQ4_NL") || s.is("Q4_K_S") || s.is("Q4_K_M") ||
            s.is("IQ4_XS"))
          type = GgmlType::Q5_K;
      } else {
        if (s.is("Q2_K")) type = GgmlType::Q3_K;
        else if (s.is("Q3_K_M")) type = GgmlType::Q4_K;
        else if (s.is("Q3_K_L")) type = GgmlType::Q5_K;
      }
    } else if (s.is("Q3_K_L")) {
      type = GgmlType::Q4_K;
    }
  }
  return type;
}

// A type whose block fits rows of length ncols: 256-element types fall back to a 32-element
// one of similar size, and anything that still does not fit to F16.
GgmlType fit_row_length(GgmlType type, int64_t ncols, bool* fell_back) {
  *fell_back = false;
  if (ncols % block_size_of(type) == 0) return type;
  *fell_back = true;
  GgmlType r;
  switch (type) {
    case GgmlType::IQ4_XS: r = GgmlType::IQ4_NL; break;
    case GgmlType::Q2_K: case GgmlType::Q3_K: r = GgmlType::Q4_0; break;
    case GgmlType::Q4_K: r = GgmlType::Q5_0; break;
    case GgmlType::Q5_K: r = GgmlType::Q5_1; break;
    case GgmlType::Q6_K: r = GgmlType::Q8_0; break;
    default: r = GgmlType::F16; break;
  }
  if (ncols % block_size_of(r) != 0) r = GgmlType::F16;
  return r;
}

// Reads an integer hyperparameter that may be stored per layer (an array): layer 0's value.
int hparam_int(const GgufFile& f, const std::string& key, int fallback) {
  const GgufValue* v = f.find(key);
  if (!v) return fallback;
  if (v->is_integer()) return v->u > 1000000 ? fallback : static_cast<int>(v->u);
  if (v->is_array() && !v->nums.empty() && v->nums[0] >= 0 && v->nums[0] <= 1000000) return static_cast<int>(v->nums[0]);
  return fallback;
}

}  // namespace

PlanModel plan_model_from(const GgufFile& f) {
  PlanModel m;
  const GgufValue* arch = f.find("general.architecture");
  if (arch && arch->type == GgufValueType::STRING) m.arch = arch->s;
  int max_layer = -1;
  for (const GgufTensor& t : f.tensors) {
    PlanTensor p;
    p.name = t.name;
    p.n_dims = t.n_dims;
    for (int d = 0; d < 4; d++) p.ne[d] = t.ne[d];
    p.type = t.type();
    max_layer = std::max(max_layer, layer_of(t.name));
    m.tensors.push_back(std::move(p));
  }
  m.n_layer = hparam_int(f, m.arch + ".block_count", max_layer + 1);
  m.n_head = hparam_int(f, m.arch + ".attention.head_count", 0);
  m.n_head_kv = hparam_int(f, m.arch + ".attention.head_count_kv", m.n_head);
  m.n_expert = hparam_int(f, m.arch + ".expert_count", 0);
  return m;
}

std::vector<PlanEntry> plan_quantization(const PlanModel& model, const QuantPreset& preset, bool pure) {
  // llama-quantize's order: by layer (tensors outside layers first), then by name.
  std::vector<size_t> order(model.tensors.size());
  for (size_t i = 0; i < order.size(); i++) order[i] = i;
  std::vector<int> layers(model.tensors.size());
  for (size_t i = 0; i < order.size(); i++) layers[i] = layer_of(model.tensors[i].name);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (layers[a] != layers[b]) return layers[a] < layers[b];
    return model.tensors[a].name < model.tensors[b].name;
  });

  MixtureState state(model, preset.name);
  for (const PlanTensor& t : model.tensors) {
    const Role r = role_of(t.name);
    if (is_attn_v_like(r)) ++state.n_attn_v;
    if (r == Role::Output) state.tied_embeddings = false;
  }
  const bool quantized_preset = !is_float_type(preset.default_type);

  std::vector<PlanEntry> plan;
  plan.reserve(order.size());
  for (size_t idx : order) {
    const PlanTensor& t = model.tensors[idx];
    PlanEntry e{idx, t.name, t.type, t.type, false};
    if (quantizable(t)) {
      GgmlType type = preset.default_type;
      if (quantized_preset) {
        if (!pure) type = mixture_type(state, t, role_of(t.name), type);
        type = fit_row_length(type, t.ne[0], &e.fallback);
      }
      e.to = type;
    }
    plan.push_back(std::move(e));
  }
  return plan;
}

// ---------------------------------------------------------------------------------------------
// Files

namespace {

// Elements per work item: a multiple of every block size (1, 32, 256), so any run of whole
// items holds whole blocks of both the source and the target type.
constexpr int64_t kChunkElems = 64 * 1024;
// Bytes copied per step for tensors that keep their type.
constexpr size_t kCopyBytes = 16u << 20;

// Offsets of the fp16 scale fields in a block of t (checked for overflow after quantizing).
void scale_fields(GgmlType t, size_t* offsets, int* count) {
  *count = 0;
  switch (t) {
    case GgmlType::Q4_0: case GgmlType::Q5_0: case GgmlType::Q8_0: case GgmlType::IQ4_NL: case GgmlType::IQ4_XS:
      offsets[(*count)++] = 0;
      break;
    case GgmlType::Q4_1: case GgmlType::Q5_1: case GgmlType::Q4_K: case GgmlType::Q5_K:
      offsets[(*count)++] = 0;
      offsets[(*count)++] = 2;
      break;
    case GgmlType::Q2_K:
      offsets[(*count)++] = offsetof(BlockQ2_K, d);
      offsets[(*count)++] = offsetof(BlockQ2_K, dmin);
      break;
    case GgmlType::Q3_K: offsets[(*count)++] = offsetof(BlockQ3_K, d); break;
    case GgmlType::Q6_K: offsets[(*count)++] = offsetof(BlockQ6_K, d); break;
    default: break;
  }
}

inline bool half_finite(uint16_t h) { return (h & 0x7c00u) != 0x7c00u; }
inline bool bf16_finite(uint16_t h) { return (h & 0x7f80u) != 0x7f80u; }

// True if the quantized bytes hold only finite values / scales (finite input can still
// overflow fp16: a block scale beyond 65504, or an F16 weight beyond it).
bool output_finite(GgmlType t, const uint8_t* data, size_t nbytes) {
  if (t == GgmlType::F16 || t == GgmlType::BF16) {
    for (size_t i = 0; i + 1 < nbytes; i += 2) {
      uint16_t h;
      std::memcpy(&h, data + i, 2);
      if (!(t == GgmlType::F16 ? half_finite(h) : bf16_finite(h))) return false;
    }
    return true;
  }
  size_t offsets[2];
  int count;
  scale_fields(t, offsets, &count);
  const size_t bytes = ggml_type_info(static_cast<uint32_t>(t)).type_size;
  for (size_t b = 0; b + bytes <= nbytes; b += bytes)
    for (int k = 0; k < count; k++) {
      uint16_t h;
      std::memcpy(&h, data + b + offsets[k], 2);
      if (!half_finite(h)) return false;
    }
  return true;
}

std::string type_name(GgmlType t) {
  const char* n = ggml_type_name(t);
  return n ? n : "type " + std::to_string(static_cast<uint32_t>(t));
}

// Collects the first exception thrown by a pool task, to rethrow on the calling thread.
struct TaskErrors {
  std::mutex mutex;
  std::exception_ptr first;
  std::atomic<bool> any{false};
  template <typename Fn>
  void run(Fn&& fn) {
    if (any.load(std::memory_order_relaxed)) return;
    try {
      fn();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex);
      if (!first) first = std::current_exception();
      any = true;
    }
  }
  void rethrow() {
    if (first) std::rethrow_exception(first);
  }
};

}  // namespace

QuantizeResult quantize_file(const std::string& in_path, const std::string& out_path, const QuantizeOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const QuantPreset* preset = find_quant_preset(options.preset);
  if (!preset) {
    std::string names;
    for (const QuantPreset& p : quant_presets()) names += (names.empty() ? "" : ", ") + std::string(p.name);
    fail("INVALID_ARGUMENT", "Expected one of " + names + " for type but received \"" + options.preset + "\"");
  }
  if (options.threads < 0 || options.threads > 1024)
    fail("INVALID_ARGUMENT", "Expected an integer from 0 to 1024 for threads but received " + std::to_string(options.threads));
  if (out_path.empty()) fail("INVALID_ARGUMENT", "Expected a non-empty output path");

  std::unique_ptr<GgufFile> src = GgufFile::open(in_path);
  const PlanModel model = plan_model_from(*src);
  const std::vector<PlanEntry> plan = plan_quantization(model, *preset, options.pure);

  // Refuse what cannot be converted before anything is written.
  for (const PlanEntry& e : plan) {
    if (e.from == e.to || is_float_type(e.from)) continue;
    const TypeKernels* k = kernels_for(e.from);
    if (!options.allow_requantize || !k || !k->dequantize_row)
      fail("UNSUPPORTED_SOURCE",
           "Tensor " + e.name + " is " + type_name(e.from) + ": halfbyte quantizes from F32, F16 or BF16 files" +
               (k && k->dequantize_row ? " (allowRequantize / --allow-requantize converts already-quantized tensors, at a loss of quality)"
                                       : " (and cannot read " + type_name(e.from) + " to requantize it)"));
  }

  // Header: every key of the source except the ones this output redefines, then the
  // quantization version and file type (as llama-quantize orders them).
  GgufWriter writer;
  const MappedFile* mapping = src->file();
  for (const RawKv& kv : read_raw_metadata(mapping->data(), mapping->size())) {
    if (kv.key == "general.quantization_version" || kv.key == "general.file_type" || kv.key == "split.no" ||
        kv.key == "split.count" || kv.key == "split.tensors.count")
      continue;
    if (kv.key == "general.alignment" && kv.type != GgufValueType::UINT32) {
      // ggml reads the alignment as a uint32 only; the reader here took any integer.
      GgufValue a;
      a.type = GgufValueType::UINT32;
      a.u = src->alignment;
      writer.add(kv.key, a);
      continue;
    }
    writer.add_raw(kv.key, kv.type, kv.value, kv.size);
  }
  GgufValue u32;
  u32.type = GgufValueType::UINT32;
  u32.u = 2;
  writer.add("general.quantization_version", u32);
  u32.u = preset->file_type;
  writer.add("general.file_type", u32);
  uint64_t bytes_total = 0;
  for (const PlanEntry& e : plan) {
    const PlanTensor& t = model.tensors[e.source_index];
    writer.add_tensor(e.name, t.n_dims, t.ne, e.to);
    bytes_total += src->tensors[e.source_index].nbytes;
  }

  const int threads = options.threads > 0 ? options.threads : ThreadPool::default_threads();
  ThreadPool pool(threads);
  const int64_t batch_chunks = std::max<int64_t>(1, static_cast<int64_t>(pool.size()) * 4);
  std::vector<std::vector<float>> scratch(static_cast<size_t>(pool.size()), std::vector<float>(kChunkElems));
  std::vector<uint8_t> out_buf;

  FileSink sink(out_path);
  writer.begin(sink);
  uint64_t bytes_done = 0;
  auto report = [&](size_t index) {
    if (!options.progress) return;
    QuantizeProgress p{&plan[index].name, index, plan.size(), bytes_done, bytes_total};
    if (!options.progress(p)) fail("ABORTED", "Quantization was aborted");
  };

  for (size_t index = 0; index < plan.size(); ++index) {
    const PlanEntry& e = plan[index];
    const GgufTensor& st = src->tensors[e.source_index];
    report(index);
    if (e.from == e.to) {
      for (uint64_t off = 0; off < st.nbytes; off += kCopyBytes) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(kCopyBytes, st.nbytes - off));
        writer.write_data(st.data + off, n);
        bytes_done += n;
        if (off + n < st.nbytes) report(index);
      }
      continue;
    }

    // Convert: the tensor as a flat run of blocks, kChunkElems at a time, batch_chunks chunks
    // in parallel, each batch written out before the next starts.
    const int64_t n_elems = st.n_elements();
    const int64_t n_chunks = (n_elems + kChunkElems - 1) / kChunkElems;
    const GgmlTypeInfo src_info = ggml_type_info(st.type_id);
    const TypeKernels* src_kernels = e.from == GgmlType::F32 ? nullptr : kernels_for(e.from);
    const size_t chunk_out = quant_row_bytes(e.to, kChunkElems);
    out_buf.resize(static_cast<size_t>(std::min(batch_chunks, n_chunks)) * chunk_out);
    const bool aligned_f32 = e.from == GgmlType::F32 && reinterpret_cast<uintptr_t>(st.data) % alignof(float) == 0;

    for (int64_t c0 = 0; c0 < n_chunks; c0 += batch_chunks) {
      const int64_t nb = std::min(batch_chunks, n_chunks - c0);
      TaskErrors errors;
      pool.parallel_for_indexed(nb, [&](int64_t task, int thread) {
        errors.run([&] {
          const int64_t e0 = (c0 + task) * kChunkElems;
          const int64_t count = std::min(kChunkElems, n_elems - e0);
          const uint8_t* in = st.data + static_cast<uint64_t>(e0 / src_info.block_size) * src_info.type_size;
          const float* x;
          float* buf = scratch[static_cast<size_t>(thread)].data();
          if (aligned_f32) {
            x = reinterpret_cast<const float*>(in);
          } else {
            if (src_kernels) src_kernels->dequantize_row(in, buf, count);
            else std::memcpy(buf, in, static_cast<size_t>(count) * sizeof(float));
            x = buf;
          }
          for (int64_t i = 0; i < count; ++i)
            if (!std::isfinite(x[i]))
              fail("BAD_TENSOR_DATA", "Expected finite weights in tensor " + e.name + " but element " +
                                          std::to_string(e0 + i) + " is " + (std::isnan(x[i]) ? "NaN" : "infinite"));
          uint8_t* out = out_buf.data() + static_cast<size_t>(task) * chunk_out;
          const size_t out_bytes = quant_row_bytes(e.to, count);
          quantize_row(e.to, x, out, count);
          if (!output_finite(e.to, out, out_bytes))
            fail("BAD_TENSOR_DATA", "Tensor " + e.name + " has weights too large for " + type_name(e.to) +
                                        " (a value or block scale beyond the fp16 range)");
        });
      });
      errors.rethrow();
      const int64_t e_end = std::min(n_elems, (c0 + nb) * kChunkElems);
      const int64_t batch_elems = e_end - c0 * kChunkElems;
      writer.write_data(out_buf.data(), quant_row_bytes(e.to, batch_elems));
      bytes_done += static_cast<uint64_t>(batch_elems / src_info.block_size) * src_info.type_size;
      if (c0 + nb < n_chunks) report(index);
    }
  }
  writer.finish();
  if (options.progress) {
    static const std::string done_name;
    QuantizeProgress p{plan.empty() ? &done_name : &plan.back().name, plan.empty() ? 0 : plan.size() - 1, plan.size(),
                       bytes_done, bytes_total};
    if (!options.progress(p)) fail("ABORTED", "Quantization was aborted");
  }
  sink.commit();

  QuantizeResult r;
  r.tensors = plan.size();
  r.input_bytes = src->file_size();
  r.output_bytes = sink.written();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace hb
