// AMX-INT8 probe for Q4_0 prefill (a measuring tool, not part of the library or its tests).
// It asks one question before the kernel set grows an AMX member: how fast can a Q4_0 product
// over many tokens run on AMX tiles while giving the same bits as the 8-row AVX-512 kernel?
// Build (x86-64 with AMX, Linux >= 5.16, after the native tests have built build-tests/):
//   g++ -O2 -std=c++17 -mavx512f -mavx512bw -mavx512vl -mamx-tile -mamx-int8 bench/amx-probe.cpp
//       build-tests/libhalfbyte_core.a -o /tmp/amx-probe
// Run: /tmp/amx-probe [n=2048] [rows=512] [ntok=128]   (weights in cache, one thread)
//
// Method, per 16 weight rows (two packed 8-row groups) and 16 tokens, per Q4_0 block of 32:
//   A (16 rows, 32 int8) = weight nibbles - 8, unpacked once per row tile for all blocks;
//   B (8 rows, 64 bytes) = 16 tokens' 32 activation int8 in VNNI order (4 per token per row);
//   C (16, 16) int32 = tdpbssd(A, B): the block's exact integer dot (the x8 kernel's isum - 8 sum);
//   acc[row][tok] = fma(float(C), dw[row] * dx[tok], acc): the x8 kernel's float step per lane,
// so the result is bit-identical (checked against gemm_x8 below).
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../native/core/quant/blocks.h"
#include "../native/core/quant/fp16.h"
#include "../native/core/quant/kernels.h"

using namespace hb;

namespace {

struct TileConfig {
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Two 8-row groups' block b -> 16 rows of 32 signed weights (q - 8) in element order.
// Row r's dword k (elements 4k..4k+3, low nibbles) sits at dword 8k + r of the block's qs,
// and its high nibbles (elements 16+4k..) in the same bytes.
void unpack_q4_0_x8(const BlockQ4_0x8& blk, int8_t* out /* 8 rows x 32 */) {
  const __m512i raw0 = _mm512_loadu_si512(blk.qs), raw1 = _mm512_loadu_si512(blk.qs + 64);
  const __m512i m4 = _mm512_set1_epi8(15), eight = _mm512_set1_epi8(8);
  for (int j = 0; j < 4; ++j) {  // output rows 2j, 2j+1
    alignas(64) int32_t idx[16];
    for (int p = 0; p < 16; ++p) idx[p] = (p % 4) * 8 + 2 * j + p / 8;
    const __m512i sel = _mm512_permutex2var_epi32(raw0, _mm512_load_si512(idx), raw1);
    const __m512i lo = _mm512_and_si512(sel, m4), hi = _mm512_and_si512(_mm512_srli_epi16(sel, 4), m4);
    const __m512i q = _mm512_mask_blend_epi32(0xF0F0, lo, hi);
    _mm512_storeu_si512(out + 64 * j, _mm512_sub_epi8(q, eight));
  }
}

// W (rows, n) packed x8 @ Xq (ntok, n)^T -> Y (ntok, rows). rows % 16 == 0, ntok % 16 == 0.
void gemm_q4_0_amx(int64_t n, const uint8_t* w, size_t group_bytes, int64_t rows, const ActQ8_32* xq, int64_t ntok,
                   float* y) {
  const int64_t nb = n / 32, ng = ntok / 16;
  // B tiles: [group][block] 8 x 64 bytes; dx: [group][block][16].
  std::vector<int8_t> bt(static_cast<size_t>(ng * nb * 512));
  std::vector<float> dx(static_cast<size_t>(ng * nb * 16));
  for (int64_t g = 0; g < ng; ++g)
    for (int64_t b = 0; b < nb; ++b) {
      int8_t* dst = bt.data() + (g * nb + b) * 512;
      for (int t = 0; t < 16; ++t) {
        const ActQ8_32& a = xq[(g * 16 + t) * nb + b];
        for (int kk = 0; kk < 8; ++kk) std::memcpy(dst + kk * 64 + t * 4, a.qs + 4 * kk, 4);
        dx[(g * nb + b) * 16 + t] = a.d;
      }
    }
  std::vector<int8_t> at(static_cast<size_t>(nb * 512));  // one row tile's A, all blocks
  std::vector<float> dw(static_cast<size_t>(nb * 16));
  alignas(64) int32_t cbuf[2][256];
  for (int64_t rt = 0; rt < rows / 16; ++rt) {
    const auto* g0 = reinterpret_cast<const BlockQ4_0x8*>(w + (2 * rt) * group_bytes);
    const auto* g1 = reinterpret_cast<const BlockQ4_0x8*>(w + (2 * rt + 1) * group_bytes);
    for (int64_t b = 0; b < nb; ++b) {
      unpack_q4_0_x8(g0[b], at.data() + b * 512);
      unpack_q4_0_x8(g1[b], at.data() + b * 512 + 256);
      for (int r = 0; r < 8; ++r) {
        dw[b * 16 + r] = fp16_to_f32(g0[b].d[r]);
        dw[b * 16 + 8 + r] = fp16_to_f32(g1[b].d[r]);
      }
    }
    for (int64_t g = 0; g < ng; ++g) {
      __m512 acc[16];
      for (auto& a : acc) a = _mm512_setzero_ps();
      const int8_t* bg = bt.data() + g * nb * 512;
      const float* dxg = dx.data() + g * nb * 16;
      // Two blocks in flight (tiles 0/1 A, 2/3 B, 4/5 C) so one block's product overlaps the
      // other's store and scaling; blocks are still added in order per lane.
      for (int64_t b = 0; b < nb; b += 2) {
        _tile_loadd(0, at.data() + b * 512, 32);
        _tile_loadd(2, bg + b * 512, 64);
        _tile_zero(4);
        _tile_dpbssd(4, 0, 2);
        _tile_loadd(1, at.data() + (b + 1) * 512, 32);
        _tile_loadd(3, bg + (b + 1) * 512, 64);
        _tile_zero(5);
        _tile_dpbssd(5, 1, 3);
        _tile_stored(4, cbuf[0], 64);
        _tile_stored(5, cbuf[1], 64);
        for (int h = 0; h < 2; ++h) {
          const __m512 dxv = _mm512_loadu_ps(dxg + (b + h) * 16);
          const float* dwb = dw.data() + (b + h) * 16;
          for (int r = 0; r < 16; ++r) {
            const __m512 c = _mm512_cvtepi32_ps(_mm512_load_si512(cbuf[h] + 16 * r));
            acc[r] = _mm512_fmadd_ps(c, _mm512_mul_ps(_mm512_set1_ps(dwb[r]), dxv), acc[r]);
          }
        }
      }
      alignas(64) float tmp[16][16];
      for (int r = 0; r < 16; ++r) _mm512_store_ps(tmp[r], acc[r]);
      for (int t = 0; t < 16; ++t)
        for (int r = 0; r < 16; ++r) y[(g * 16 + t) * rows + rt * 16 + r] = tmp[r][t];
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t n = argc > 1 ? std::atoll(argv[1]) : 2048, rows = argc > 2 ? std::atoll(argv[2]) : 512,
                ntok = argc > 3 ? std::atoll(argv[3]) : 128;
  if (n % 64 || rows % 16 || ntok % 16) return std::fprintf(stderr, "n %% 64, rows %% 16, ntok %% 16\n"), 2;
  if (syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) != 0)
    return std::fprintf(stderr, "AMX tile data not permitted by the kernel\n"), 2;
  const TypeKernels* k = kernels_for(GgmlType::Q4_0, Isa::Avx512);
  if (!k || !k->gemm_x8) return std::fprintf(stderr, "no AVX-512 Q4_0 kernels\n"), 2;
  const size_t row_bytes = static_cast<size_t>(n / 32) * sizeof(BlockQ4_0);
  std::vector<uint8_t> wraw(row_bytes * static_cast<size_t>(rows));
  uint64_t s = 1;
  for (auto& v : wraw) v = static_cast<uint8_t>((s = s * 6364136223846793005ull + 1442695040888963407ull) >> 56);
  for (size_t off = 0; off < wraw.size(); off += sizeof(BlockQ4_0)) wraw[off] = 0x1f, wraw[off + 1] = 0x21;
  const size_t gb = x8_group_bytes(GgmlType::Q4_0, n);
  std::vector<uint8_t> w(gb * static_cast<size_t>(rows / 8));
  for (int64_t g = 0; g < rows / 8; ++g)
    pack_rows_x8(GgmlType::Q4_0, wraw.data() + g * 8 * row_bytes, row_bytes, n, w.data() + g * gb);
  std::vector<float> x(static_cast<size_t>(n * ntok));
  for (auto& v : x) v = static_cast<float>((s = s * 6364136223846793005ull + 1) >> 40) / 16777216.0f - 0.5f;
  const size_t xs = act_row_bytes(k->act, n);
  std::vector<uint8_t> xq(xs * static_cast<size_t>(ntok));
  for (int64_t t = 0; t < ntok; ++t) k->quantize_act(x.data() + t * n, xq.data() + t * xs, n);
  std::vector<float> yref(static_cast<size_t>(rows * ntok)), yamx(yref.size());

  TileConfig cfg;
  for (int t : {0, 1}) cfg.rows[t] = 16, cfg.colsb[t] = 32;  // A
  for (int t : {2, 3}) cfg.rows[t] = 8, cfg.colsb[t] = 64;   // B
  for (int t : {4, 5}) cfg.rows[t] = 16, cfg.colsb[t] = 64;  // C
  _tile_loadconfig(&cfg);

  auto x8 = [&] { k->gemm_x8(n, w.data(), gb, rows, xq.data(), xs, ntok, yref.data(), static_cast<size_t>(rows)); };
  auto amx = [&] {
    gemm_q4_0_amx(n, w.data(), gb, rows, reinterpret_cast<const ActQ8_32*>(xq.data()), ntok, yamx.data());
  };
  x8();
  amx();
  size_t diff = 0;
  for (size_t i = 0; i < yref.size(); ++i) diff += std::memcmp(&yref[i], &yamx[i], 4) != 0;
  std::printf("bit-identical to gemm_x8 (avx512): %s (%zu of %zu differ)\n", diff ? "NO" : "yes", diff, yref.size());
  auto time = [&](auto f) {
    int iters = 1;
    for (;;) {
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < iters; ++i) f();
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (secs > 0.3) return secs / iters;
      iters *= 2;
    }
  };
  const double ops = 2.0 * static_cast<double>(n * rows * ntok);
  for (int rep = 0; rep < 3; ++rep) {
    const double tx = time(x8), ta = time(amx);
    std::printf("n=%lld rows=%lld ntok=%lld: avx512 x8 %.1f GOP/s, amx %.1f GOP/s (%.2fx)\n", static_cast<long long>(n),
                static_cast<long long>(rows), static_cast<long long>(ntok), ops / tx / 1e9, ops / ta / 1e9, tx / ta);
  }
  _tile_release();
  return diff ? 1 : 0;
}
