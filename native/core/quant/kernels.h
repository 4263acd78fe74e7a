// Matrix kernels per weight type and instruction set.
//
// Every weight type has a scalar reference implementation (kernels_ref.cpp) that stays forever as
// the oracle; per-ISA files (kernels_avx2.cpp, kernels_avx512.cpp, kernels_neon.cpp) are compiled
// with their own flags and only called after run-time CPU checks (cpu_features.cpp).
//
// The model multiplies activations with weights in two steps:
//   1. quantize_act: each activation row (n floats) becomes the type's activation format
//      (F32 rows stay float; integer types use int8 blocks, see ActFormat).
//   2. gemm: W (nrows, n) @ Xq (ntok, n)^T -> Y (ntok, nrows), rows and tokens as given.
// A single output element is always reduced by one call in one fixed order, so splitting rows
// across threads never changes results (logits are bit-identical for any thread count).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../ggml_types.h"

namespace hb {

// Avx512Amx: the Avx512 kernels with AMX-INT8 tile products for prefill (kernels_amx.cpp).
enum class Isa : int { Scalar = 0, Avx2 = 1, Avx512 = 2, Neon = 3, NeonDot = 4, Avx512Amx = 5 };
const char* isa_name(Isa isa);

// Activation formats fed to the integer dot products.
enum class ActFormat : int {
  F32 = 0,     // plain floats, n * 4 bytes
  Q8_32 = 1,   // ActQ8_32 blocks: 32 int8 + float scale + float scaled sum + int sum
  Q8_256 = 2,  // ActQ8_256 blocks: 256 int8 + float scale + int16 sums of 16-element groups
};

// x[i] ~= d * qs[i]; s ~= d * sum(qs) (lets Q4_1/Q5_1 apply their offsets cheaply).
// Values are llama.cpp's block_q8_0 / block_q8_1 (x86 CPU backend): d = fp16(max|x| / 127) and
// s = fp16(max|x| / 127 * sum(qs)) held as floats, qs = round(x * 127 / max|x|), so integer dots match.
// sum = sum(qs) exactly (the 8-row kernels remove Q4_0's offset of 8 with it).
struct ActQ8_32 {
  float d;
  float s;
  int8_t qs[32];
  int32_t sum;
};
static_assert(sizeof(ActQ8_32) == 44, "ActQ8_32 layout");

// x[i] ~= d * qs[i]; bsums[j] = sum(qs[16j .. 16j+15]) (k-quant minimums).
// Values are llama.cpp's block_q8_K: qs = round(-127 / m * x), d = 1 / (-127 / m) (m: the first element of
// largest magnitude, so d may be negative).
struct ActQ8_256 {
  float d;
  int16_t bsums[16];
  int8_t qs[256];
};
static_assert(sizeof(ActQ8_256) == 292, "ActQ8_256 layout");

// Bytes of one activation row of n elements in format f (n must be a multiple of its block).
size_t act_row_bytes(ActFormat f, int64_t n);

struct TypeKernels {
  GgmlType type;
  ActFormat act;
  // x (n,) -> xq (act_row_bytes(act, n)). n is a multiple of the weight block size.
  void (*quantize_act)(const float* x, void* xq, int64_t n);
  // W (nrows, n) @ Xq (ntok, n)^T -> Y (ntok, nrows):
  //   Y[t * y_stride + r] = dot(W row r, Xq row t), W rows w_stride bytes apart,
  //   Xq rows x_stride bytes apart, Y rows y_stride floats apart.
  void (*gemm)(int64_t n, const void* w, size_t w_stride, int64_t nrows, const void* xq, size_t x_stride,
               int64_t ntok, float* y, size_t y_stride);
  // w (n,) in this type -> y (n,) floats. Used for embedding lookups and as the test oracle.
  void (*dequantize_row)(const void* w, float* y, int64_t n);
  // The same product on weights packed 8 rows at a time by pack_rows_x8 (nullptr: this type
  // has no 8-row kernel on this ISA, keep the GGUF layout): w points at a group of 8 rows,
  // groups w_stride (= x8_group_bytes) apart, nrows a multiple of 8.
  void (*gemm_x8)(int64_t n, const void* w, size_t w_stride, int64_t nrows, const void* xq, size_t x_stride,
                  int64_t ntok, float* y, size_t y_stride) = nullptr;
};

// Vector operations of the forward pass that are not matrix products, per ISA. Each gives the
// same bits as its reference in ops.cpp (the same operations per element in the same order).
struct VecKernels {
  // x (n,) -> x (n,) = exp(x * scale - m), m = max(x * scale); returns m, *sum = sum of the
  // results (ops.h exp_shifted: one attention chunk's unnormalized softmax).
  float (*exp_shifted)(float* x, int64_t n, float scale, float* sum);
};
// The active ISA's (falling back to the reference), or one specific ISA's (nullptr if the CPU lacks it).
const VecKernels* vec_kernels();
const VecKernels* vec_kernels(Isa isa);

// Whether type t has an 8-row interleaved layout (every integer type).
bool has_x8_layout(GgmlType t);
// Bytes of one packed group of 8 rows of n elements (8 * row bytes, except Q4_K / Q5_K: see blocks.h).
size_t x8_group_bytes(GgmlType t, int64_t n);
// Rows 8g .. 8g+7 of W (rows row_bytes apart, n elements each) -> one packed group of
// x8_group_bytes(t, n) bytes at dst (layouts in blocks.h). Only for types with has_x8_layout.
void pack_rows_x8(GgmlType t, const void* w, size_t row_bytes, int64_t n, void* dst);

// Kernels of type t for the active ISA (falls back to the best available, then the reference);
// nullptr if the type has no kernels at all.
const TypeKernels* kernels_for(GgmlType t);
// Kernels of type t for one specific ISA, or nullptr if that ISA lacks them or the CPU lacks the ISA.
const TypeKernels* kernels_for(GgmlType t, Isa isa);

// CPU features found at run time (CPUID + XGETBV on x86, HWCAP on arm64).
struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512vnni = false, avx_vnni = false;
  bool avx512dq = false;
  // amx_tile / amx_int8: CPUID and the OS saves tile state (XCR0 bits 17, 18); amx_permitted:
  // Linux also granted this process the tile data (arch_prctl ARCH_REQ_XCOMP_PERM, asked once).
  bool amx_tile = false, amx_int8 = false, amx_permitted = false;
  bool neon = false, dotprod = false;
};
const CpuFeatures& cpu_features();
// ISAs usable on this CPU, best last; Scalar is always first.
std::vector<Isa> available_isas();
// Active ISA: the best available unless HALFBYTE_FORCE_ISA (scalar|avx2|avx512|avx512amx|neon|neondot)
// or set_active_isa() chose otherwise. set_active_isa returns false if the CPU lacks it.
Isa active_isa();
bool set_active_isa(Isa isa);
bool parse_isa(const std::string& name, Isa* out);
// Every ISA this library knows (parse_isa's names), whether or not this CPU or build has it.
const std::vector<Isa>& all_isas();

}  // namespace hb
