// Run-time CPU detection and kernel dispatch. Baseline code only: the ISA-specific tables are
// reached through kern::*_kernels() and only after cpu_features() confirmed the instruction set
// (and, on x86, that the OS saves the wider registers: XGETBV).
#include <atomic>
#include <cstdlib>
#include <string>

#include "../error.h"
#include "kernels.h"
#include "kernels_internal.h"

#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_AMD64))
#include <intrin.h>  // __cpuid, __cpuidex, _xgetbv (MSVC and clang-cl)
#define HB_X86_MSVC 1
#elif defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif
#if defined(__x86_64__) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__aarch64__) && defined(__APPLE__)
#include <sys/sysctl.h>
#endif

namespace hb {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Neon: return "neon";
    case Isa::NeonDot: return "neondot";
    case Isa::Avx512Amx: return "avx512amx";
  }
  return "unknown";
}

const std::vector<Isa>& all_isas() {
  static const std::vector<Isa> all = {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Avx512Amx, Isa::Neon, Isa::NeonDot};
  return all;
}

bool parse_isa(const std::string& name, Isa* out) {
  for (Isa isa : all_isas()) {
    if (name == isa_name(isa)) {
      if (out) *out = isa;
      return true;
    }
  }
  return false;
}

size_t act_row_bytes(ActFormat f, int64_t n) {
  if (n < 0) fail("INVALID_ARGUMENT", "Expected a non-negative activation row length but received " + std::to_string(n));
  switch (f) {
    case ActFormat::F32: return static_cast<size_t>(n) * sizeof(float);
    case ActFormat::Q8_32:
      if (n % 32 != 0)
        fail("INVALID_ARGUMENT", "Expected a row length that is a multiple of 32 for activation format Q8_32 but received " +
                                     std::to_string(n));
      return static_cast<size_t>(n / 32) * sizeof(ActQ8_32);
    case ActFormat::Q8_256:
      if (n % 256 != 0)
        fail("INVALID_ARGUMENT", "Expected a row length that is a multiple of 256 for activation format Q8_256 but received " +
                                     std::to_string(n));
      return static_cast<size_t>(n / 256) * sizeof(ActQ8_256);
  }
  fail("INVALID_ARGUMENT", "Expected an activation format 0..2 but received " + std::to_string(static_cast<int>(f)));
}

// ---------------------------------------------------------------------------------------------
// Detection.

static CpuFeatures detect_cpu() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(HB_X86_MSVC)
  unsigned a = 0, b = 0, c = 0, d = 0, max_leaf = 0;
  unsigned b7 = 0, c7 = 0, d7 = 0, a71 = 0;
#if defined(HB_X86_MSVC)
  int r[4];
  __cpuid(r, 0);
  max_leaf = static_cast<unsigned>(r[0]);
  if (max_leaf < 1) return f;
  __cpuid(r, 1);
  c = static_cast<unsigned>(r[2]);
  if (max_leaf >= 7) {
    __cpuidex(r, 7, 0);
    b7 = static_cast<unsigned>(r[1]), c7 = static_cast<unsigned>(r[2]), d7 = static_cast<unsigned>(r[3]);
    if (r[0] >= 1) {
      __cpuidex(r, 7, 1);
      a71 = static_cast<unsigned>(r[0]);
    }
  }
#else
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  max_leaf = __get_cpuid_max(0, nullptr);
  if (max_leaf >= 7) {
    unsigned a7 = 0;
    __cpuid_count(7, 0, a7, b7, c7, d7);
    unsigned b71 = 0, c71 = 0, d71 = 0;
    if (a7 >= 1) __cpuid_count(7, 1, a71, b71, c71, d71);
  }
#endif
  (void)a, (void)b, (void)d;
  const bool osxsave = (c >> 27) & 1;
  const bool avx = (c >> 28) & 1;
  const bool fma = (c >> 12) & 1;
  const bool f16c = (c >> 29) & 1;
  uint64_t xcr0 = 0;
  if (osxsave) {
    // XGETBV(0): which register states the OS saves on context switch.
#if defined(HB_X86_MSVC)
    xcr0 = _xgetbv(0);
#else
    // Inline asm so this file needs no -mxsave.
    uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = (static_cast<uint64_t>(hi) << 32) | lo;
#endif
  }
  const bool os_avx = osxsave && (xcr0 & 0x6) == 0x6;             // XMM + YMM state
  const bool os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;         // opmask + ZMM state
  if (os_avx && avx) {
    f.avx2 = (b7 >> 5) & 1;
    f.fma = fma;
    f.f16c = f16c;
    f.avx_vnni = (a71 >> 4) & 1;
  }
  if (os_avx512) {
    f.avx512f = (b7 >> 16) & 1;
    f.avx512dq = (b7 >> 17) & 1;
    f.avx512bw = (b7 >> 30) & 1;
    f.avx512vl = (b7 >> 31) & 1;
    f.avx512vnni = (c7 >> 11) & 1;
  }
  const bool os_amx = osxsave && (xcr0 & 0x60000) == 0x60000;  // XTILECFG + XTILEDATA state
  if (os_amx) {
    f.amx_tile = (d7 >> 24) & 1;
    f.amx_int8 = (d7 >> 25) & 1;
  }
#if defined(__linux__)
  // Linux (5.16+) hands out the 8 KiB tile data per process on request; until then a tile
  // instruction faults. Refused (an older kernel, a small signal stack): no AMX kernels.
  constexpr int kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  if (f.amx_tile && f.amx_int8) f.amx_permitted = syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#endif
#elif defined(__aarch64__)
  f.neon = true;  // Advanced SIMD is mandatory in armv8-a
#if defined(__linux__)
  const unsigned long hwcap = getauxval(AT_HWCAP);
  f.neon = (hwcap & (1ul << 1)) != 0;      // HWCAP_ASIMD
  f.dotprod = (hwcap & (1ul << 20)) != 0;  // HWCAP_ASIMDDP
#elif defined(__APPLE__)
  int v = 0;
  size_t len = sizeof(v);
  if (sysctlbyname("hw.optional.arm.FEAT_DotProd", &v, &len, nullptr, 0) == 0) f.dotprod = v != 0;
#endif
#endif
  return f;
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect_cpu();
  return features;
}

static bool isa_supported(Isa isa) {
  const CpuFeatures& f = cpu_features();
  switch (isa) {
    case Isa::Scalar: return true;
#if defined(__x86_64__)
    case Isa::Avx2: return f.avx2 && f.fma && f.f16c;
    // kernels_avx512.cpp is compiled with F/BW/VL/DQ/VNNI, so the compiler may use any of them there.
    case Isa::Avx512:
      return f.avx2 && f.fma && f.f16c && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512vnni;
    // kernels_amx.cpp: the AVX-512 flags plus AMX-TILE / AMX-INT8, usable once Linux granted them.
    case Isa::Avx512Amx: return isa_supported(Isa::Avx512) && f.amx_tile && f.amx_int8 && f.amx_permitted;
#endif
#if defined(__aarch64__)
    case Isa::Neon: return f.neon;
    case Isa::NeonDot: return f.neon && f.dotprod;
#endif
    default: return false;
  }
}

std::vector<Isa> available_isas() {
  std::vector<Isa> out;
  static const Isa order[] = {Isa::Scalar, Isa::Neon, Isa::NeonDot, Isa::Avx2, Isa::Avx512, Isa::Avx512Amx};
  for (Isa isa : order)
    if (isa_supported(isa)) out.push_back(isa);
  return out;
}

static Isa best_isa() { return available_isas().back(); }

// Active ISA, chosen once from HALFBYTE_FORCE_ISA (an unknown or unsupported value falls back to the
// best available), changeable with set_active_isa.
static std::atomic<int>& active_isa_slot() {
  static std::atomic<int> slot([] {
    Isa isa = best_isa();
    if (const char* env = std::getenv("HALFBYTE_FORCE_ISA")) {
      Isa forced;
      if (parse_isa(env, &forced) && isa_supported(forced)) isa = forced;
    }
    return static_cast<int>(isa);
  }());
  return slot;
}

Isa active_isa() { return static_cast<Isa>(active_isa_slot().load(std::memory_order_relaxed)); }

bool set_active_isa(Isa isa) {
  if (!isa_supported(isa)) return false;
  active_isa_slot().store(static_cast<int>(isa), std::memory_order_relaxed);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Dispatch.

const TypeKernels* kernels_for(GgmlType t, Isa isa) {
  if (!isa_supported(isa)) return nullptr;
  switch (isa) {
    case Isa::Scalar: return kern::ref_kernels(t);
#if defined(__x86_64__)
    case Isa::Avx2: return kern::avx2_kernels(t);
    case Isa::Avx512: return kern::avx512_kernels(t);
    case Isa::Avx512Amx: return kern::amx_kernels(t);
#endif
#if defined(__aarch64__)
    case Isa::Neon: return kern::neon_kernels(t);
    case Isa::NeonDot: return kern::neondot_kernels(t);
#endif
    default: return nullptr;
  }
}

const TypeKernels* kernels_for(GgmlType t) {
  // The active ISA first, then every weaker available ISA, ending with the reference.
  const Isa active = active_isa();
  static const std::vector<Isa> isas = available_isas();  // fixed for the process
  bool reached = false;
  for (auto it = isas.rbegin(); it != isas.rend(); ++it) {
    if (*it == active) reached = true;
    if (!reached) continue;
    if (const TypeKernels* k = kernels_for(t, *it)) return k;
  }
  return kern::ref_kernels(t);
}

const VecKernels* vec_kernels(Isa isa) {
  if (!isa_supported(isa)) return nullptr;
  switch (isa) {
#if defined(__x86_64__)
    case Isa::Avx2: return kern::avx2_vec_kernels();
    case Isa::Avx512:
    case Isa::Avx512Amx: return kern::avx512_vec_kernels();
#endif
    default: return kern::ref_vec_kernels();  // NEON: the reference vectorizes with the baseline ISA
  }
}

const VecKernels* vec_kernels() {
  const VecKernels* k = vec_kernels(active_isa());
  return k ? k : kern::ref_vec_kernels();
}

}  // namespace hb
