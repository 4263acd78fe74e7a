// Tests of the matrix kernels: fp16/bf16 conversions, the scalar reference against a float64
// oracle built from dequantized weights, and every ISA-specific kernel available on this CPU
// against the reference (dequantize_row and quantize_act bit for bit; gemm within a stated
// bound; gemm bit-identical under any split of rows into chunks).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "../ops.h"

#include "../../tests/check.h"
#include "../gguf.h"
#include "blocks.h"
#include "fp16.h"
#include "kernels.h"

namespace {

using namespace hb;

// Deterministic generator (splitmix64).
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }  // [0, 1)
  float sym() { return 2.0f * uniform() - 1.0f; }                                      // [-1, 1)
  uint8_t byte() { return static_cast<uint8_t>(next()); }
};

struct TypeGeom {
  int64_t block;   // elements per block
  size_t bytes;    // bytes per block
};

TypeGeom geom(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return {1, 4};
    case GgmlType::F16: return {1, 2};
    case GgmlType::BF16: return {1, 2};
    case GgmlType::Q4_0: return {32, sizeof(BlockQ4_0)};
    case GgmlType::Q4_1: return {32, sizeof(BlockQ4_1)};
    case GgmlType::Q5_0: return {32, sizeof(BlockQ5_0)};
    case GgmlType::Q5_1: return {32, sizeof(BlockQ5_1)};
    case GgmlType::Q8_0: return {32, sizeof(BlockQ8_0)};
    case GgmlType::Q2_K: return {256, sizeof(BlockQ2_K)};
    case GgmlType::Q3_K: return {256, sizeof(BlockQ3_K)};
    case GgmlType::Q4_K: return {256, sizeof(BlockQ4_K)};
    case GgmlType::Q5_K: return {256, sizeof(BlockQ5_K)};
    case GgmlType::Q6_K: return {256, sizeof(BlockQ6_K)};
    case GgmlType::IQ4_NL: return {32, sizeof(BlockIQ4_NL)};
    case GgmlType::IQ4_XS: return {256, sizeof(BlockIQ4_XS)};
    default: return {0, 0};
  }
}

const GgmlType kAllTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q4_0,   GgmlType::Q4_1,
                              GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0, GgmlType::Q2_K,   GgmlType::Q3_K,
                              GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::IQ4_NL, GgmlType::IQ4_XS};
// Types the reference must cover (the forward pass depends on them).
const GgmlType kRequiredTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16,
                                   GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::Q6_K};

uint16_t rand_half(Rng& rng, float lo, float hi) {
  const float mag = lo + (hi - lo) * rng.uniform();
  return f32_to_fp16(rng.uniform() < 0.5f ? -mag : mag);
}

// Random weights of type t: nrows rows of n elements, rows w_stride bytes apart. Block scales are
// positive or negative fp16 in a sensible range; quant bits are uniformly random.
std::vector<uint8_t> random_weights(GgmlType t, int64_t n, int64_t nrows, size_t w_stride, Rng& rng) {
  std::vector<uint8_t> w(w_stride * static_cast<size_t>(nrows));
  for (auto& b : w) b = rng.byte();
  const TypeGeom g = geom(t);
  for (int64_t r = 0; r < nrows; ++r) {
    uint8_t* row = w.data() + static_cast<size_t>(r) * w_stride;
    const int64_t nb = n / g.block;
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* blk = row + static_cast<size_t>(b) * g.bytes;
      switch (t) {
        case GgmlType::F32: { float v = rng.sym(); std::memcpy(blk, &v, 4); break; }
        case GgmlType::F16: { uint16_t h = f32_to_fp16(rng.sym()); std::memcpy(blk, &h, 2); break; }
        case GgmlType::BF16: { uint16_t h = f32_to_bf16(rng.sym()); std::memcpy(blk, &h, 2); break; }
        case GgmlType::Q4_0: reinterpret_cast<BlockQ4_0*>(blk)->d = rand_half(rng, 1e-3f, 0.1f); break;
        case GgmlType::Q4_1: {
          auto* p = reinterpret_cast<BlockQ4_1*>(blk);
          p->d = rand_half(rng, 1e-3f, 0.1f);
          p->m = rand_half(rng, 0.0f, 0.5f);
          break;
        }
        case GgmlType::Q5_0: reinterpret_cast<BlockQ5_0*>(blk)->d = rand_half(rng, 1e-3f, 0.1f); break;
        case GgmlType::Q5_1: {
          auto* p = reinterpret_cast<BlockQ5_1*>(blk);
          p->d = rand_half(rng, 1e-3f, 0.1f);
          p->m = rand_half(rng, 0.0f, 0.5f);
          break;
        }
        case GgmlType::Q8_0: reinterpret_cast<BlockQ8_0*>(blk)->d = rand_half(rng, 1e-4f, 1e-2f); break;
        case GgmlType::Q2_K: {
          auto* p = reinterpret_cast<BlockQ2_K*>(blk);
          p->d = rand_half(rng, 1e-3f, 0.05f);
          p->dmin = rand_half(rng, 1e-3f, 0.05f);
          break;
        }
        case GgmlType::Q3_K: reinterpret_cast<BlockQ3_K*>(blk)->d = rand_half(rng, 1e-3f, 0.05f); break;
        case GgmlType::Q4_K: {
          auto* p = reinterpret_cast<BlockQ4_K*>(blk);
          p->d = rand_half(rng, 1e-4f, 5e-3f);
          p->dmin = rand_half(rng, 1e-4f, 5e-3f);
          break;
        }
        case GgmlType::Q5_K: {
          auto* p = reinterpret_cast<BlockQ5_K*>(blk);
          p->d = rand_half(rng, 1e-4f, 5e-3f);
          p->dmin = rand_half(rng, 1e-4f, 5e-3f);
          break;
        }
        case GgmlType::Q6_K: reinterpret_cast<BlockQ6_K*>(blk)->d = rand_half(rng, 1e-5f, 5e-4f); break;
        case GgmlType::IQ4_NL: reinterpret_cast<BlockIQ4_NL*>(blk)->d = rand_half(rng, 1e-4f, 1e-2f); break;
        case GgmlType::IQ4_XS: reinterpret_cast<BlockIQ4_XS*>(blk)->d = rand_half(rng, 1e-4f, 1e-2f); break;
        default: break;
      }
    }
  }
  return w;
}

std::vector<float> random_acts(int64_t n, int64_t ntok, Rng& rng) {
  std::vector<float> x(static_cast<size_t>(n * ntok));
  for (auto& v : x) v = rng.sym() * (rng.uniform() < 0.05f ? 8.0f : 1.0f);  // a few outliers
  return x;
}

// Activation row (format f) -> floats the integer kernels actually multiply with.
std::vector<double> act_values(ActFormat f, const uint8_t* xq, int64_t n) {
  std::vector<double> v(static_cast<size_t>(n));
  if (f == ActFormat::F32) {
    const float* p = reinterpret_cast<const float*>(xq);
    for (int64_t i = 0; i < n; ++i) v[i] = p[i];
  } else if (f == ActFormat::Q8_32) {
    const ActQ8_32* p = reinterpret_cast<const ActQ8_32*>(xq);
    for (int64_t i = 0; i < n; ++i) v[i] = static_cast<double>(p[i / 32].d) * p[i / 32].qs[i % 32];
  } else {
    const ActQ8_256* p = reinterpret_cast<const ActQ8_256*>(xq);
    for (int64_t i = 0; i < n; ++i) v[i] = static_cast<double>(p[i / 256].d) * p[i / 256].qs[i % 256];
  }
  return v;
}

// Q4_1 / Q5_1 take their minimum term from the activations' s (fp16-rounded, like llama.cpp's
// block_q8_1) rather than from d * sum(qs): the oracle adds that difference, m * (s - d * sum(qs)).
double min_term_correction(GgmlType t, const uint8_t* wrow, const uint8_t* xq, int64_t n) {
  if (t != GgmlType::Q4_1 && t != GgmlType::Q5_1) return 0.0;
  const ActQ8_32* x = reinterpret_cast<const ActQ8_32*>(xq);
  double corr = 0;
  for (int64_t b = 0; b < n / 32; ++b) {
    const uint16_t m = t == GgmlType::Q4_1 ? reinterpret_cast<const BlockQ4_1*>(wrow)[b].m
                                           : reinterpret_cast<const BlockQ5_1*>(wrow)[b].m;
    int sum = 0;
    for (int i = 0; i < 32; ++i) sum += x[b].qs[i];
    corr += static_cast<double>(fp16_to_f32(m)) * (static_cast<double>(x[b].s) - static_cast<double>(x[b].d) * sum);
  }
  return corr;
}

// Sequential float accumulation steps per lane of one output, for the error bound: floats use 8
// lanes over elements, the integer types one float step per block.
double accumulation_steps(GgmlType t, int64_t n) {
  const TypeGeom g = geom(t);
  return g.block == 1 ? static_cast<double>(n) / 8.0 : static_cast<double>(n / g.block);
}

struct Problem {
  GgmlType type;
  int64_t n, nrows, ntok;
  size_t w_stride, x_stride, y_stride;
  std::vector<uint8_t> w;
  std::vector<float> x;
};

Problem make_problem(GgmlType t, int64_t n, int64_t nrows, int64_t ntok, uint64_t seed) {
  Rng rng(seed);
  Problem p;
  p.type = t;
  p.n = n;
  p.nrows = nrows;
  p.ntok = ntok;
  const TypeGeom g = geom(t);
  p.w_stride = static_cast<size_t>(n / g.block) * g.bytes + (seed % 2 ? 0 : 64);  // sometimes padded rows
  p.y_stride = static_cast<size_t>(nrows) + (seed % 3 == 0 ? 0 : 5);
  p.w = random_weights(t, n, nrows, p.w_stride, rng);
  p.x = random_acts(n, ntok, rng);
  return p;
}

std::vector<uint8_t> quantize_rows(const TypeKernels* k, const Problem& p, size_t* x_stride) {
  *x_stride = act_row_bytes(k->act, p.n) + 8;  // padded rows: kernels must honour x_stride
  std::vector<uint8_t> xq(*x_stride * static_cast<size_t>(p.ntok), 0xcd);
  for (int64_t t = 0; t < p.ntok; ++t) k->quantize_act(p.x.data() + t * p.n, xq.data() + t * *x_stride, p.n);
  return xq;
}

const float kCanary = -12345.678f;

std::vector<float> run_gemm(const TypeKernels* k, const Problem& p, const std::vector<uint8_t>& xq, size_t x_stride) {
  std::vector<float> y(p.y_stride * static_cast<size_t>(p.ntok), kCanary);
  k->gemm(p.n, p.w.data(), p.w_stride, p.nrows, xq.data(), x_stride, p.ntok, y.data(), p.y_stride);
  return y;
}

// Writes past nrows into the padding of y's rows.
int padding_writes(const Problem& p, const std::vector<float>& y) {
  int bad = 0;
  for (int64_t tk = 0; tk < p.ntok; ++tk)
    for (size_t c = static_cast<size_t>(p.nrows); c < p.y_stride; ++c)
      if (y[tk * p.y_stride + c] != kCanary) ++bad;
  return bad;
}

std::string where(const Problem& p, const char* isa) {
  std::ostringstream os;
  os << ggml_type_name(p.type) << " " << isa << " n=" << p.n << " nrows=" << p.nrows << " ntok=" << p.ntok;
  return os.str();
}

// Elements of y outside the bound against the reference's yr (the form is explained in
// kernels_ref_gemm_matches_float64); the first few are printed while `already` is small.
int out_of_bound(const TypeKernels* ref, const Problem& p, const std::vector<uint8_t>& xq, size_t x_stride,
                 const std::vector<float>& y, const std::vector<float>& yr, const char* isa, int already) {
  int bad = 0;
  std::vector<float> wrow(static_cast<size_t>(p.n));
  for (int64_t r = 0; r < p.nrows; ++r) {
    ref->dequantize_row(p.w.data() + r * p.w_stride, wrow.data(), p.n);
    for (int64_t tk = 0; tk < p.ntok; ++tk) {
      std::vector<double> xv = act_values(ref->act, xq.data() + tk * x_stride, p.n);
      double mag = 0;
      for (int64_t i = 0; i < p.n; ++i) mag += std::fabs(wrow[i] * xv[i]);
      const double tol = 2 * (accumulation_steps(p.type, p.n) + 16) * std::ldexp(1.0, -23) * mag + 1e-30;
      const double got = y[tk * p.y_stride + r], want = yr[tk * p.y_stride + r];
      if (!(std::fabs(got - want) <= tol)) {
        if (already + bad < 3)
          std::fprintf(stderr, "  %s row %d tok %d: %.9g vs reference %.9g (tol %.3g)\n", where(p, isa).c_str(), int(r),
                       int(tk), got, want, tol);
        ++bad;
      }
    }
  }
  return bad;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// fp16 / bf16

TEST(fp16_roundtrip_all_halves) {
  int bad = 0;
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = fp16_to_f32(static_cast<uint16_t>(h));
    const bool nan = ((h >> 10) & 31) == 31 && (h & 0x3ff) != 0;
    if (nan) {
      if (f == f) ++bad;
      continue;
    }
    if (f32_to_fp16(f) != h) ++bad;
  }
  CHECK_EQ(bad, 0);
  CHECK_EQ(fp16_to_f32(0x3c00), 1.0f);
  CHECK_EQ(fp16_to_f32(0x7bff), 65504.0f);
  CHECK_EQ(fp16_to_f32(0x0001), std::ldexp(1.0f, -24));
  CHECK_EQ(fp16_to_f32(0xc000), -2.0f);
}

// float -> half against an oracle: the nearest of the two neighbouring halves (ties to even).
TEST(fp16_rounding_nearest_even) {
  auto oracle = [](float f) -> uint16_t {
    if (std::isnan(f)) return 0x7e00;
    const double v = f;
    const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
    const double a = std::fabs(v);
    if (a >= 65520.0) return sign | 0x7c00;
    // Halves are monotone in their bit pattern for non-negative values: binary search the floor.
    uint16_t lo = 0, hi = 0x7bff;
    while (lo < hi) {
      uint16_t mid = static_cast<uint16_t>((lo + hi + 1) / 2);
      if (fp16_to_f32(mid) <= a) lo = mid; else hi = static_cast<uint16_t>(mid - 1);
    }
    const double below = fp16_to_f32(lo);
    if (below == a) return sign | lo;
    const double above = fp16_to_f32(static_cast<uint16_t>(lo + 1));
    const double db = a - below, da = above - a;
    uint16_t pick = db < da ? lo : (da < db ? static_cast<uint16_t>(lo + 1) : ((lo & 1) ? static_cast<uint16_t>(lo + 1) : lo));
    return sign | pick;
  };
  Rng rng(7);
  int bad = 0;
  std::vector<float> cases = {0.0f, -0.0f, 65504.0f, 65519.99f, 65520.0f, 1e9f, -1e9f, std::ldexp(1.0f, -25),
                              std::ldexp(1.5f, -25), std::ldexp(1.5f, -24), std::ldexp(2.5f, -24), std::ldexp(1.0f, -14),
                              std::ldexp(1.0f, -14) - std::ldexp(1.0f, -25), 1.0f + std::ldexp(1.0f, -11),
                              1.0f + 3 * std::ldexp(1.0f, -11), 1e-10f, std::numeric_limits<float>::infinity()};
  for (int i = 0; i < 200000; ++i) {
    // Random exponents across the whole half range and beyond, random mantissas.
    const float f = std::ldexp(1.0f + rng.uniform(), static_cast<int>(rng.next() % 50) - 30) * (rng.uniform() < 0.5f ? -1 : 1);
    cases.push_back(f);
  }
  for (float f : cases) {
    if (f32_to_fp16(f) != oracle(f)) {
      if (bad < 5) std::fprintf(stderr, "  fp16(%.9g) = %04x, want %04x\n", f, f32_to_fp16(f), oracle(f));
      ++bad;
    }
  }
  CHECK_EQ(bad, 0);
  CHECK(std::isnan(fp16_to_f32(f32_to_fp16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(bf16_conversions) {
  CHECK_EQ(bf16_to_f32(0x3f80), 1.0f);
  CHECK_EQ(f32_to_bf16(1.0f), 0x3f80);
  // 1 + 2^-8 is exactly between 1 and 1 + 2^-7: ties to even (1.0); 1 + 3 * 2^-8 ties up to 1 + 2^-6.
  CHECK_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  CHECK_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  CHECK_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)), 0x3f81);
  CHECK(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  CHECK_EQ(f32_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  int bad = 0;
  for (uint32_t b = 0; b < 65536; ++b) {
    if (((b >> 7) & 0xff) == 0xff && (b & 0x7f)) continue;  // NaN
    if (f32_to_bf16(bf16_to_f32(static_cast<uint16_t>(b))) != b) ++bad;
  }
  CHECK_EQ(bad, 0);
}

// ---------------------------------------------------------------------------------------------
// Layouts, formats, dispatch

TEST(kernels_block_sizes_match_ggml_types) {
  for (GgmlType t : kAllTypes) {
    const GgmlTypeInfo info = ggml_type_info(static_cast<uint32_t>(t));
    CHECK(info.name != nullptr);
    CHECK_EQ(info.block_size, geom(t).block);
    CHECK_EQ(info.type_size, geom(t).bytes);
  }
}

TEST(kernels_act_row_bytes) {
  CHECK_EQ(act_row_bytes(ActFormat::F32, 7), size_t(28));
  CHECK_EQ(act_row_bytes(ActFormat::Q8_32, 64), size_t(88));
  CHECK_EQ(act_row_bytes(ActFormat::Q8_256, 512), size_t(584));
  CHECK_THROWS_CODE(act_row_bytes(ActFormat::Q8_32, 33), "INVALID_ARGUMENT");
  CHECK_THROWS_CODE(act_row_bytes(ActFormat::Q8_256, 128), "INVALID_ARGUMENT");
  CHECK_THROWS_CODE(act_row_bytes(ActFormat::F32, -1), "INVALID_ARGUMENT");
}

TEST(kernels_dispatch) {
  const std::vector<Isa> isas = available_isas();
  CHECK(!isas.empty() && isas.front() == Isa::Scalar);
  Isa parsed;
  CHECK(parse_isa("avx2", &parsed) && parsed == Isa::Avx2);
  CHECK(parse_isa("neondot", &parsed) && parsed == Isa::NeonDot);
  CHECK(!parse_isa("sse9", &parsed));
  CHECK(!parse_isa("", &parsed));
  CHECK_EQ(all_isas().size(), size_t(6));
  for (Isa isa : all_isas()) {
    std::string name = isa_name(isa);
    CHECK(parse_isa(name, &parsed) && parsed == isa);
  }
  CHECK(parse_isa("avx512amx", &parsed) && parsed == Isa::Avx512Amx);
  const Isa before = active_isa();
  CHECK(set_active_isa(Isa::Scalar));
  CHECK(active_isa() == Isa::Scalar);
  CHECK(kernels_for(GgmlType::Q4_0) == kernels_for(GgmlType::Q4_0, Isa::Scalar));
  // An ISA of the other architecture is never available and never becomes active.
#if defined(__x86_64__)
  CHECK(!set_active_isa(Isa::Neon));
  CHECK(kernels_for(GgmlType::Q4_0, Isa::NeonDot) == nullptr);
#else
  CHECK(!set_active_isa(Isa::Avx2));
  CHECK(kernels_for(GgmlType::Q4_0, Isa::Avx512) == nullptr);
  CHECK(kernels_for(GgmlType::Q4_0, Isa::Avx512Amx) == nullptr);
#endif
  CHECK(active_isa() == Isa::Scalar);
  CHECK(set_active_isa(before));
  for (GgmlType t : kRequiredTypes) {
    const TypeKernels* k = kernels_for(t);
    CHECK(k != nullptr);
    if (k) CHECK(k->type == t);
    CHECK(kernels_for(t, Isa::Scalar) != nullptr);
  }
  // Every type has a SIMD path wherever the active ISA is not the scalar one.
  if (active_isa() != Isa::Scalar) {
    for (GgmlType t : kAllTypes) {
      if (kernels_for(t) == kernels_for(t, Isa::Scalar))
        hbtest::report(__FILE__, __LINE__, std::string("no SIMD kernels for ") + ggml_type_name(t));
    }
  }
  CHECK(kernels_for(GgmlType::IQ2_XXS) == nullptr);
  CHECK(kernels_for(GgmlType::I32) == nullptr);
}

// ---------------------------------------------------------------------------------------------
// Reference semantics

// Hand-built blocks decoded per the GGUF spec, written independently of the reference's loops.
TEST(kernels_ref_dequant_known_blocks) {
  {
    BlockQ4_0 b;
    b.d = f32_to_fp16(0.5f);
    for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
    float y[32];
    kernels_for(GgmlType::Q4_0, Isa::Scalar)->dequantize_row(&b, y, 32);
    for (int j = 0; j < 16; ++j) {
      CHECK_EQ(y[j], 0.5f * (j - 8));
      CHECK_EQ(y[j + 16], 0.5f * (7 - j));
    }
  }
  {
    BlockQ8_0 b;
    b.d = f32_to_fp16(0.25f);
    for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(j * 8 - 128);
    float y[32];
    kernels_for(GgmlType::Q8_0, Isa::Scalar)->dequantize_row(&b, y, 32);
    for (int j = 0; j < 32; ++j) CHECK_EQ(y[j], 0.25f * (j * 8 - 128));
  }
  {
    // Q6_K: set element e's 6-bit value to (e * 7) % 64 through the bit layout, scales g - 8.
    BlockQ6_K b;
    std::memset(&b, 0, sizeof(b));
    b.d = f32_to_fp16(0.125f);
    for (int g = 0; g < 16; ++g) b.scales[g] = static_cast<int8_t>(g - 8);
    for (int e = 0; e < 256; ++e) {
      const int v = (e * 7) % 64;
      const int h = e / 128, within = e % 128, quarter = within / 32, l = within % 32;
      const int ql_index = 64 * h + l + (quarter & 1 ? 32 : 0);
      b.ql[ql_index] |= static_cast<uint8_t>((v & 15) << (quarter >= 2 ? 4 : 0));
      b.qh[32 * h + l] |= static_cast<uint8_t>((v >> 4) << (2 * quarter));
    }
    float y[256];
    kernels_for(GgmlType::Q6_K, Isa::Scalar)->dequantize_row(&b, y, 256);
    int bad = 0;
    for (int e = 0; e < 256; ++e)
      if (y[e] != 0.125f * (e / 16 - 8) * ((e * 7) % 64 - 32)) ++bad;
    CHECK_EQ(bad, 0);
  }
}

// Activation formats follow llama.cpp's x86 CPU backend exactly (see kernels_ref.cpp).
TEST(kernels_ref_quantize_act) {
  Rng rng(11);
  std::vector<float> x = random_acts(512, 1, rng);
  x[3] = 0.0f;
  for (int i = 32; i < 64; ++i) x[i] = 0.0f;  // an all-zero block: d = 0, q = 0
  x[300] = -9.5f;                             // block 1 of 256: its largest magnitude is negative
  auto fp16_round = [](float v) { return fp16_to_f32(f32_to_fp16(v)); };
  std::vector<uint8_t> q32(act_row_bytes(ActFormat::Q8_32, 512));
  kernels_for(GgmlType::Q4_0, Isa::Scalar)->quantize_act(x.data(), q32.data(), 512);
  const ActQ8_32* b32 = reinterpret_cast<const ActQ8_32*>(q32.data());
  for (int b = 0; b < 16; ++b) {
    float amax = 0;
    int sum = 0;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
    CHECK_EQ(b32[b].d, fp16_round(amax / 127.0f));
    for (int i = 0; i < 32; ++i) {
      sum += b32[b].qs[i];
      const float v = x[b * 32 + i];
      CHECK_EQ(static_cast<int>(b32[b].qs[i]), static_cast<int>(std::nearbyint(v * (amax != 0 ? 127.0f / amax : 0.0f))));
      // q rounds x / (amax / 127); d is that scale rounded to fp16 (relative error <= 2^-11).
      CHECK(std::fabs(v - b32[b].d * b32[b].qs[i]) <= 0.5 * amax / 127 + 127 * std::ldexp(amax / 127, -11) + 1e-30);
    }
    CHECK_EQ(b32[b].s, fp16_round(amax / 127.0f * static_cast<float>(sum)));
  }
  CHECK_EQ(b32[1].d, 0.0f);
  std::vector<uint8_t> q256(act_row_bytes(ActFormat::Q8_256, 512));
  kernels_for(GgmlType::Q6_K, Isa::Scalar)->quantize_act(x.data(), q256.data(), 512);
  const ActQ8_256* b256 = reinterpret_cast<const ActQ8_256*>(q256.data());
  for (int b = 0; b < 2; ++b) {
    float amax = 0, max = 0;
    for (int i = 0; i < 256; ++i)
      if (std::fabs(x[b * 256 + i]) > amax) {
        amax = std::fabs(x[b * 256 + i]);
        max = x[b * 256 + i];
      }
    const float iscale = -127.0f / max;
    CHECK_EQ(b256[b].d, 1.0f / iscale);
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) {
        const float v = x[b * 256 + g * 16 + i];
        const int8_t q = b256[b].qs[g * 16 + i];
        CHECK_EQ(static_cast<int>(q), static_cast<int>(std::nearbyint(iscale * v)));
        CHECK(std::fabs(v - b256[b].d * q) <= 0.5001 * std::fabs(b256[b].d));
        sum += q;
      }
      CHECK_EQ(b256[b].bsums[g], sum);
    }
  }
  CHECK(b256[1].d > 0);  // max = -9.5: iscale positive
  CHECK(b256[0].d < 0 || x[0] < 0);
}

// The reference gemm against float64 dot products of dequantized weights and activations.
// Bound: |y - exact| <= (steps + 16) * 2^-23 * sum |w_i x_i|, steps = sequential float additions per
// accumulator lane (n / 8 for float types, one per block for integer types).
TEST(kernels_ref_gemm_matches_float64) {
  for (GgmlType t : kAllTypes) {
    const TypeKernels* k = kernels_for(t, Isa::Scalar);
    if (!k) continue;
    const int64_t block = geom(t).block;
    const int64_t n = block == 1 ? 1000 + 3 : block * (block == 256 ? 4 : 37);
    Problem p = make_problem(t, n, 5, 3, 1234);
    size_t x_stride;
    std::vector<uint8_t> xq = quantize_rows(k, p, &x_stride);
    std::vector<float> y = run_gemm(k, p, xq, x_stride);
    std::vector<float> wrow(static_cast<size_t>(n));
    int bad = 0;
    for (int64_t r = 0; r < p.nrows; ++r) {
      k->dequantize_row(p.w.data() + r * p.w_stride, wrow.data(), n);
      for (int64_t tk = 0; tk < p.ntok; ++tk) {
        std::vector<double> xv = act_values(k->act, xq.data() + tk * x_stride, n);
        double exact = min_term_correction(t, p.w.data() + r * p.w_stride, xq.data() + tk * x_stride, n), mag = 0;
        for (int64_t i = 0; i < n; ++i) {
          exact += wrow[i] * xv[i];
          mag += std::fabs(wrow[i] * xv[i]);
        }
        const double tol = (accumulation_steps(t, n) + 16) * std::ldexp(1.0, -23) * mag + 1e-30;
        const double got = y[tk * p.y_stride + r];
        if (!(std::fabs(got - exact) <= tol)) {
          if (bad < 3) std::fprintf(stderr, "  %s row %d tok %d: %.9g vs %.9g (tol %.3g)\n", where(p, "scalar").c_str(),
                                    int(r), int(tk), got, exact, tol);
          ++bad;
        }
      }
    }
    CHECK_EQ(bad, 0);
    // Untouched padding between output rows.
    for (int64_t tk = 0; tk < p.ntok; ++tk)
      for (size_t c = static_cast<size_t>(p.nrows); c < p.y_stride; ++c) CHECK_EQ(y[tk * p.y_stride + c], kCanary);
  }
}

// ---------------------------------------------------------------------------------------------
// Every ISA against the reference

std::vector<int64_t> test_lengths(GgmlType t) {
  const int64_t block = geom(t).block;
  if (block == 1) return {1, 7, 8, 9, 16, 33, 100, 256, 1000};
  if (block == 32) return {32, 64, 96, 160, 256, 2048 + 32};
  return {256, 512, 768, 2048};
}

TEST(kernels_isa_dequantize_and_quantize_match_reference) {
  for (Isa isa : available_isas()) {
    for (GgmlType t : kAllTypes) {
      const TypeKernels* k = kernels_for(t, isa);
      const TypeKernels* ref = kernels_for(t, Isa::Scalar);
      if (!k) continue;
      CHECK(ref != nullptr);
      if (!ref) continue;
      CHECK(k->type == t && k->act == ref->act);
      for (int64_t n : test_lengths(t)) {
        Problem p = make_problem(t, n, 2, 2, 99 + n);
        std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
        k->dequantize_row(p.w.data(), a.data(), n);
        ref->dequantize_row(p.w.data(), b.data(), n);
        if (std::memcmp(a.data(), b.data(), a.size() * 4) != 0) {
          hbtest::report(__FILE__, __LINE__, "dequantize_row differs from reference: " + where(p, isa_name(isa)));
        }
        const size_t bytes = act_row_bytes(k->act, n);
        std::vector<uint8_t> qa(bytes, 0), qb(bytes, 0);
        k->quantize_act(p.x.data(), qa.data(), n);
        ref->quantize_act(p.x.data(), qb.data(), n);
        if (std::memcmp(qa.data(), qb.data(), bytes) != 0) {
          hbtest::report(__FILE__, __LINE__, "quantize_act differs from reference: " + where(p, isa_name(isa)));
        }
      }
    }
  }
}

// exp_shifted (attention's chunk softmax) per ISA against the reference, bit for bit: lengths
// with and without a tail, scales, scores that underflow or clamp, infinities and NaN.
TEST(kernels_isa_exp_shifted_matches_reference_bitwise) {
  const VecKernels* ref = vec_kernels(Isa::Scalar);
  CHECK(ref != nullptr && ref->exp_shifted == hb::exp_shifted_ref);
  uint64_t state = 12345;
  auto uniform = [&]() {  // [0, 1)
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<float>(static_cast<double>(state >> 40) / static_cast<double>(1ull << 24));
  };
  int compared = 0;
  for (Isa isa : available_isas()) {
    const VecKernels* k = vec_kernels(isa);
    CHECK(k != nullptr);
    if (!k) continue;
    for (int64_t n : {1, 5, 8, 13, 64, 255, 256, 1000}) {
      for (float scale : {1.0f, 0.125f, 0.0883883476f, 30.0f}) {
        for (int kind = 0; kind < 4; kind++) {
          std::vector<float> x(static_cast<size_t>(n));
          for (float& v : x) v = (uniform() - 0.5f) * (kind == 1 ? 400.0f : 16.0f);  // kind 1: wide range, clamps
          if (kind == 2) x[static_cast<size_t>(n) / 2] = -INFINITY;
          if (kind == 3) x[static_cast<size_t>(n) - 1] = std::numeric_limits<float>::quiet_NaN();
          std::vector<float> a = x, b = x;
          float sa = -1, sb = -2;
          const float ma = k->exp_shifted(a.data(), n, scale, &sa);
          const float mb = ref->exp_shifted(b.data(), n, scale, &sb);
          const bool same = std::memcmp(a.data(), b.data(), a.size() * 4) == 0 && std::memcmp(&ma, &mb, 4) == 0 &&
                            std::memcmp(&sa, &sb, 4) == 0;
          if (!same)
            hbtest::report(__FILE__, __LINE__, std::string("exp_shifted differs from reference on ") + isa_name(isa) +
                                                   " n=" + std::to_string(n) + " scale=" + std::to_string(scale) +
                                                   " kind=" + std::to_string(kind));
          compared++;
        }
      }
    }
  }
  CHECK(compared >= 128);
  // The reference against float64 (a finite row): relative error of each weight below 1e-6.
  std::vector<float> x(37);
  for (size_t i = 0; i < x.size(); i++) x[i] = static_cast<float>(i % 11) * 0.7f - 3.0f;
  std::vector<float> y = x;
  float s = 0;
  const float m = hb::exp_shifted(y.data(), static_cast<int64_t>(y.size()), 0.5f, &s);
  CHECK(m == 0.5f * 4.0f);
  double sum = 0;
  for (size_t i = 0; i < x.size(); i++) {
    const double e = std::exp(0.5 * static_cast<double>(x[i]) - 2.0);
    sum += e;
    CHECK(std::fabs(y[i] - e) <= 1e-6 * e);
  }
  CHECK(std::fabs(s - sum) <= 1e-6 * sum);
}

TEST(kernels_isa_gemm_matches_reference_and_is_chunking_invariant) {
  const int64_t row_counts[] = {1, 3, 4, 5, 8, 13, 17};
  const int64_t tok_counts[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 33};
  std::printf("  ISAs on this CPU:");
  for (Isa isa : available_isas()) std::printf(" %s", isa_name(isa));
  std::printf(" (active: %s)\n", isa_name(active_isa()));
  for (Isa isa : available_isas()) {
    for (GgmlType t : kAllTypes) {
      const TypeKernels* k = kernels_for(t, isa);
      const TypeKernels* ref = kernels_for(t, Isa::Scalar);
      if (!k || !ref) continue;
      int bad_value = 0, bad_chunk = 0, bad_batch = 0, bad_pad = 0;
      uint64_t seed = 1;
      for (int64_t n : test_lengths(t)) {
        for (int64_t nrows : row_counts) {
          for (int64_t ntok : tok_counts) {
            if (n > 1024 && nrows * ntok > 40) continue;  // keep the run short
            Problem p = make_problem(t, n, nrows, ntok, seed++);
            size_t x_stride;
            std::vector<uint8_t> xq = quantize_rows(ref, p, &x_stride);
            std::vector<float> y = run_gemm(k, p, xq, x_stride);
            std::vector<float> yr = run_gemm(ref, p, xq, x_stride);
            // AVX-512 VNNI computes the same integers as AVX2 through the same float steps, and
            // dotprod the same as plain NEON (and the AMX table is AVX-512's but for gemm_x8):
            // their results must be bit-identical.
            if (isa == Isa::Avx512 || isa == Isa::NeonDot || isa == Isa::Avx512Amx) {
              const Isa peer = isa == Isa::Avx512 ? Isa::Avx2 : isa == Isa::NeonDot ? Isa::Neon : Isa::Avx512;
              if (const TypeKernels* k2 = kernels_for(t, peer)) {
                std::vector<float> y2 = run_gemm(k2, p, xq, x_stride);
                if (std::memcmp(y2.data(), y.data(), y.size() * 4) != 0) ++bad_value;
              }
            }
            bad_value += out_of_bound(ref, p, xq, x_stride, y, yr, isa_name(isa), bad_value);
            bad_pad += padding_writes(p, y);
            // Chunking: rows in chunks of c (every chunk size up to 5, and 7), bit-identical.
            for (int64_t chunk : {1, 2, 3, 5, 7}) {
              if (chunk >= nrows) continue;
              std::vector<float> yc(y.size(), kCanary);
              for (int64_t r0 = 0; r0 < nrows; r0 += chunk) {
                const int64_t cnt = std::min(chunk, nrows - r0);
                k->gemm(n, p.w.data() + r0 * p.w_stride, p.w_stride, cnt, xq.data(), x_stride, ntok, yc.data() + r0,
                        p.y_stride);
              }
              if (std::memcmp(yc.data(), y.data(), y.size() * 4) != 0) {
                if (bad_chunk < 3)
                  std::fprintf(stderr, "  %s: chunks of %d rows differ\n", where(p, isa_name(isa)).c_str(), int(chunk));
                ++bad_chunk;
              }
            }
            // Batching: each token alone gives the same bits as in the batch (prefill == decode).
            if (ntok > 1) {
              std::vector<float> yt(y.size(), kCanary);
              for (int64_t tk = 0; tk < ntok; ++tk)
                k->gemm(n, p.w.data(), p.w_stride, nrows, xq.data() + tk * x_stride, x_stride, 1,
                        yt.data() + tk * p.y_stride, p.y_stride);
              if (std::memcmp(yt.data(), y.data(), y.size() * 4) != 0) {
                if (bad_batch < 3)
                  std::fprintf(stderr, "  %s: token-at-a-time differs from the batch\n", where(p, isa_name(isa)).c_str());
                ++bad_batch;
              }
            }
          }
        }
      }
      if (bad_value || bad_chunk || bad_batch || bad_pad) {
        std::ostringstream os;
        os << ggml_type_name(t) << " " << isa_name(isa) << ": " << bad_value << " values out of bound, " << bad_chunk
           << " chunkings differ, " << bad_batch << " batchings differ, " << bad_pad << " padding writes";
        hbtest::report(__FILE__, __LINE__, os.str());
      }
    }
  }
}

// The 8-row interleaved layout (pack_rows_x8 + gemm_x8): the same bound against the reference on
// the unpacked rows, bit-identical under any split into 8-row groups and token by token, and
// AVX-512 bit-identical to AVX2.
namespace {
std::vector<uint8_t> pack_problem(const Problem& p) {
  const size_t gb = x8_group_bytes(p.type, p.n);
  std::vector<uint8_t> packed(gb * static_cast<size_t>(p.nrows / 8), 0xee);
  for (int64_t g = 0; g < p.nrows / 8; ++g)
    pack_rows_x8(p.type, p.w.data() + static_cast<size_t>(g) * 8 * p.w_stride, p.w_stride, p.n,
                 packed.data() + static_cast<size_t>(g) * gb);
  return packed;
}
std::vector<float> run_gemm_x8(const TypeKernels* k, const Problem& p, const std::vector<uint8_t>& packed,
                               const std::vector<uint8_t>& xq, size_t x_stride) {
  std::vector<float> y(p.y_stride * static_cast<size_t>(p.ntok), kCanary);
  k->gemm_x8(p.n, packed.data(), x8_group_bytes(p.type, p.n), p.nrows, xq.data(), x_stride, p.ntok, y.data(), p.y_stride);
  return y;
}
}  // namespace

TEST(kernels_isa_gemm_x8_matches_reference_and_is_split_invariant) {
  int tested = 0;
  for (Isa isa : available_isas()) {
    for (GgmlType t : kAllTypes) {
      const TypeKernels* k = kernels_for(t, isa);
      const TypeKernels* ref = kernels_for(t, Isa::Scalar);
      if (!k || !k->gemm_x8) continue;
      CHECK(has_x8_layout(t));
      int bad_value = 0, bad_split = 0, bad_isa = 0, bad_pad = 0;
      uint64_t seed = 900;
      for (int64_t n : test_lengths(t)) {
        for (int64_t nrows : {8, 16, 24, 40}) {
          for (int64_t ntok : {1, 2, 3, 4, 5, 7, 9, 70}) {
            if (n > 1024 && nrows * ntok > 80) continue;
            Problem p = make_problem(t, n, nrows, ntok, seed++);
            size_t x_stride;
            std::vector<uint8_t> xq = quantize_rows(ref, p, &x_stride);
            const std::vector<uint8_t> packed = pack_problem(p);
            std::vector<float> y = run_gemm_x8(k, p, packed, xq, x_stride);
            std::vector<float> yr = run_gemm(ref, p, xq, x_stride);
            ++tested;
            bad_value += out_of_bound(ref, p, xq, x_stride, y, yr, isa_name(isa), bad_value);
            bad_pad += padding_writes(p, y);
            // One 8-row group at a time, and one token at a time: the same bits.
            std::vector<float> yg(y.size(), kCanary), yt(y.size(), kCanary);
            const size_t gb = x8_group_bytes(t, n);
            for (int64_t g = 0; g < nrows / 8; ++g)
              k->gemm_x8(n, packed.data() + g * gb, gb, 8, xq.data(), x_stride, ntok, yg.data() + 8 * g, p.y_stride);
            for (int64_t tk = 0; tk < ntok; ++tk)
              k->gemm_x8(n, packed.data(), gb, nrows, xq.data() + tk * x_stride, x_stride, 1, yt.data() + tk * p.y_stride,
                         p.y_stride);
            if (yg != y || yt != y) ++bad_split;
            if (isa == Isa::Avx512 || isa == Isa::Avx512Amx) {
              const TypeKernels* k2 = kernels_for(t, isa == Isa::Avx512 ? Isa::Avx2 : Isa::Avx512);
              if (k2 && k2->gemm_x8 && run_gemm_x8(k2, p, packed, xq, x_stride) != y) ++bad_isa;
            }
          }
        }
      }
      if (bad_value || bad_split || bad_isa || bad_pad) {
        std::ostringstream os;
        os << "x8 " << ggml_type_name(t) << " " << isa_name(isa) << ": " << bad_value << " values out of bound, "
           << bad_split << " splits differ, " << bad_isa << " differ from the ISA below, " << bad_pad << " padding writes";
        hbtest::report(__FILE__, __LINE__, os.str());
      }
    }
  }
#if defined(__x86_64__)
  if (cpu_features().avx2) CHECK(tested > 0);  // the x86 tables have 8-row kernels
#endif
}

// The AMX tile products (kernels_amx.cpp) on prefill shapes: full 16-row x 16-token tiles, the
// leftover 8-row group and tokens that go to the AVX-512 kernel, an odd number of blocks (one
// block alone after the pairs) and several activation chunks (n = 8192: 1 MiB per 8 groups; the
// k-quants' n = 16384 and 8192: 4 and 8 groups). Bit-identical to AVX-512, which the test above
// holds to the reference; the random blocks reach the k-quants' extreme scales and values, where
// the split products p = (hi << shift) + lo must stay exact. Skipped without AMX.
TEST(kernels_amx_gemm_x8_matches_avx512_bitwise) {
  if (!kernels_for(GgmlType::Q4_0, Isa::Avx512Amx)) {
    std::printf("  no AMX-INT8 on this CPU (or not granted by the OS): skipped\n");
    return;
  }
  int tested = 0, bad = 0, bad_pad = 0;
  uint64_t seed = 4000;
  for (GgmlType t : kAllTypes) {
    const TypeKernels* amx = kernels_for(t, Isa::Avx512Amx);
    const TypeKernels* k512 = kernels_for(t, Isa::Avx512);
    if (!amx) continue;
    CHECK(k512 && amx->gemm_x8 && amx->gemm_x8 != k512->gemm_x8);
    struct Shape {
      int64_t n, nrows, ntok;
    };
    const bool k256 = geom(t).block == 256;
    const std::vector<Shape> shapes =
        k256 ? std::vector<Shape>{Shape{256, 16, 16}, Shape{768, 24, 17}, Shape{512, 48, 33}, Shape{2048, 32, 64},
                                  Shape{16384, 16, 80}, Shape{8192, 16, 144}, Shape{256, 40, 15}}
             : std::vector<Shape>{Shape{32, 16, 16}, Shape{96, 24, 17}, Shape{256, 48, 33}, Shape{2048, 32, 64},
                                  Shape{8192, 16, 144}, Shape{160, 40, 15}, Shape{64, 8, 40}};
    for (Shape sh : shapes) {
      Problem p = make_problem(t, sh.n, sh.nrows, sh.ntok, seed++);
      size_t x_stride;
      std::vector<uint8_t> xq = quantize_rows(k512, p, &x_stride);
      const std::vector<uint8_t> packed = pack_problem(p);
      const std::vector<float> y = run_gemm_x8(amx, p, packed, xq, x_stride);
      if (y != run_gemm_x8(k512, p, packed, xq, x_stride)) {
        if (bad < 3)
          std::fprintf(stderr, "  AMX %s n=%lld rows=%lld tokens=%lld differs from AVX-512\n", ggml_type_name(t),
                       static_cast<long long>(sh.n), static_cast<long long>(sh.nrows), static_cast<long long>(sh.ntok));
        ++bad;
      }
      bad_pad += padding_writes(p, y);
      ++tested;
    }
  }
  CHECK_EQ(tested, 9 * 7);  // Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q8_0, Q4_K, Q5_K, Q6_K
  CHECK_EQ(bad, 0);
  CHECK_EQ(bad_pad, 0);
}

// ---------------------------------------------------------------------------------------------
// Real files: every matrix of each llama-quantize output, dequantized, against the F32 source it
// was made from. A wrong bit layout decodes to noise (relative RMS error ~1.4); a right one to the
// type's quantization error. Bounds are ~1.5x the errors measured with llama.cpp-made files.

double rel_rms_error(const std::vector<float>& got, const float* want, size_t count) {
  double num = 0, den = 0;
  for (size_t i = 0; i < count; ++i) {
    const double d = static_cast<double>(got[i]) - want[i];
    num += d * d;
    den += static_cast<double>(want[i]) * want[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

TEST(kernels_dequantize_fixture_models_match_f32_source) {
  const std::string dir = hbtest::fixtures_dir() + "/models/";
  std::unique_ptr<GgufFile> src;
  try {
    src = GgufFile::open(dir + "tiny-llama-F32.gguf");
  } catch (const std::exception& e) {
    hbtest::report(__FILE__, __LINE__, std::string("cannot open the F32 fixture: ") + e.what());
    return;
  }
  const char* files[] = {"F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_M",
                         "Q4_K_M", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS"};
  std::map<std::string, double> worst;  // type name -> worst relative RMS error
  for (const char* f : files) {
    std::unique_ptr<GgufFile> q;
    try {
      q = GgufFile::open(dir + "tiny-llama-" + f + ".gguf");
    } catch (const std::exception& e) {
      hbtest::report(__FILE__, __LINE__, std::string("cannot open fixture ") + f + ": " + e.what());
      continue;
    }
    for (const GgufTensor& t : q->tensors) {
      if (t.n_dims != 2) continue;
      const GgufTensor* s = src->find_tensor(t.name);
      CHECK(s != nullptr && s->type() == GgmlType::F32 && s->n_elements() == t.n_elements());
      if (!s) continue;
      const TypeKernels* k = kernels_for(t.type(), Isa::Scalar);
      if (!k) {
        hbtest::report(__FILE__, __LINE__, std::string("no kernels for ") + ggml_type_name(t.type()) + " in " + f);
        continue;
      }
      const int64_t n = t.ne[0], rows = t.ne[1];
      const size_t row_bytes = static_cast<size_t>(n / geom(t.type()).block) * geom(t.type()).bytes;
      std::vector<float> y(static_cast<size_t>(n * rows));
      for (int64_t r = 0; r < rows; ++r) k->dequantize_row(t.data + r * row_bytes, y.data() + r * n, n);
      const double err = rel_rms_error(y, reinterpret_cast<const float*>(s->data), y.size());
      double& w = worst[ggml_type_name(t.type())];
      w = std::max(w, err);
    }
  }
  const std::map<std::string, double> bound = {
      {"F16", 5e-4},  {"BF16", 3e-3},  {"Q8_0", 0.008}, {"Q4_0", 0.13},  {"Q4_1", 0.12},   {"Q5_0", 0.065},  {"Q5_1", 0.06},
      {"Q2_K", 0.45}, {"Q3_K", 0.23},  {"Q4_K", 0.11},  {"Q5_K", 0.055}, {"Q6_K", 0.027}, {"IQ4_NL", 0.12}, {"IQ4_XS", 0.12}};
  for (const auto& [name, err] : worst) {
    std::printf("  %-7s worst relative RMS error vs F32 source: %.4f\n", name.c_str(), err);
    auto it = bound.find(name);
    CHECK(it != bound.end());
    if (it != bound.end() && !(err <= it->second)) {
      hbtest::report(__FILE__, __LINE__, name + " dequantization error " + std::to_string(err) + " above " +
                                             std::to_string(it->second));
    }
  }
  CHECK_EQ(worst.size(), bound.size());
}

#if defined(HB_TEST_EMULATE_AVX512) && defined(__x86_64__)
// Test-only build (see kernels_avx512.cpp): the AVX-512 table compiled with AVX2 flags and an
// exact emulation of the VNNI dot, compared bit for bit with the AVX2 table.
#include "kernels_internal.h"
TEST(kernels_avx512_emulated_matches_avx2_bitwise) {
  int compared = 0, bad = 0;
  for (GgmlType t : kAllTypes) {
    const TypeKernels* k512 = kern::avx512_kernels(t);
    const TypeKernels* k2 = kernels_for(t, Isa::Avx2);
    if (!k512 || !k2) continue;
    uint64_t seed = 500;
    for (int64_t n : test_lengths(t)) {
      for (int64_t nrows : {1, 4, 7}) {
        for (int64_t ntok : {1, 3, 9}) {
          Problem p = make_problem(t, n, nrows, ntok, seed++);
          size_t x_stride;
          std::vector<uint8_t> xq = quantize_rows(k2, p, &x_stride);
          std::vector<uint8_t> xq512(xq.size(), 0xcd);
          for (int64_t tk = 0; tk < ntok; ++tk) k512->quantize_act(p.x.data() + tk * n, xq512.data() + tk * x_stride, n);
          if (std::memcmp(xq.data(), xq512.data(), xq.size()) != 0) ++bad;
          if (run_gemm(k512, p, xq, x_stride) != run_gemm(k2, p, xq, x_stride)) ++bad;
          ++compared;
          if (k512->gemm_x8 && k2->gemm_x8) {
            Problem p8 = make_problem(t, n, 8 * nrows, ntok, seed++);
            size_t xs8;
            std::vector<uint8_t> xq8 = quantize_rows(k2, p8, &xs8);
            const std::vector<uint8_t> packed = pack_problem(p8);
            if (run_gemm_x8(k512, p8, packed, xq8, xs8) != run_gemm_x8(k2, p8, packed, xq8, xs8)) ++bad;
            ++compared;
          }
        }
      }
    }
  }
  CHECK(compared > 0);
  CHECK_EQ(bad, 0);
}
#endif
