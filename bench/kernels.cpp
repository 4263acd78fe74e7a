// Micro benchmark of the matrix kernels (a timing tool, not a test).
// Build (x86-64):
//   g++ -O2 -std=c++17 -mavx2 -mfma -mf16c -c native/core/quant/kernels_avx2.cpp -o /tmp/avx2.o
//   g++ -O2 -std=c++17 -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx512dq -mavx2 -mfma -mf16c
//       -c native/core/quant/kernels_avx512.cpp -o /tmp/avx512.o
//   g++ -O2 -std=c++17 bench/kernels.cpp native/core/quant/{cpu_features,kernels_ref}.cpp
//       native/core/{ggml_types,ops}.cpp /tmp/avx2.o /tmp/avx512.o -o /tmp/bench_kernels -lpthread
// (or, after npm test: g++ -O2 -std=c++17 bench/kernels.cpp build-tests/libhalfbyte_core.a -lpthread)
// Run: /tmp/bench_kernels [type=Q4_0] [n=2048] [rows=5632] [ntok=1] [threads=1] [isa=best]
// HB_BENCH_X8=1 times the 8-row interleaved layout (gemm_x8 on pack_rows_x8 output) instead.
// Weights are cycled through copies totalling >= 256 MiB so decode timings measure DRAM, not cache
// (set HB_BENCH_IN_CACHE=1 to reuse one copy and time the arithmetic instead).
#include <atomic>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "../native/core/ggml_types.h"
#include "../native/core/quant/kernels.h"

using namespace hb;

static GgmlType parse_type(const std::string& s) {
  for (uint32_t id = 0; id < 40; ++id) {
    const GgmlTypeInfo info = ggml_type_info(id);
    if (info.name && s == info.name) return static_cast<GgmlType>(id);
  }
  std::fprintf(stderr, "unknown type %s\n", s.c_str());
  std::exit(2);
}

int main(int argc, char** argv) {
  const GgmlType type = parse_type(argc > 1 ? argv[1] : "Q4_0");
  const int64_t n = argc > 2 ? std::atoll(argv[2]) : 2048;
  const int64_t rows = argc > 3 ? std::atoll(argv[3]) : 5632;
  const int64_t ntok = argc > 4 ? std::atoll(argv[4]) : 1;
  const int threads = argc > 5 ? std::atoi(argv[5]) : 1;
  Isa isa = available_isas().back();
  if (argc > 6 && !parse_isa(argv[6], &isa)) return 2;
  const TypeKernels* k = kernels_for(type, isa);
  if (!k) {
    std::fprintf(stderr, "no %s kernels for %s\n", ggml_type_name(type), isa_name(isa));
    return 2;
  }
  const GgmlTypeInfo info = ggml_type_info(static_cast<uint32_t>(type));
  const size_t row_bytes = static_cast<size_t>(n / info.block_size) * info.type_size;
  const size_t mat_bytes = row_bytes * static_cast<size_t>(rows);
  const size_t copies = ntok == 1 && !std::getenv("HB_BENCH_IN_CACHE") ? (size_t(256) << 20) / mat_bytes + 1 : 1;
  std::vector<uint8_t> w(mat_bytes * copies);
  uint64_t s = 1;
  for (auto& b : w) b = static_cast<uint8_t>((s = s * 6364136223846793005ull + 1442695040888963407ull) >> 56);
  // Keep fp16 scales finite and small: set each block's leading half (if any) to 0.01.
  if (info.block_size > 1) {
    for (size_t off = 0; off + info.type_size <= w.size(); off += info.type_size) {
      if (type == GgmlType::Q6_K) { w[off + 208] = 0x1f; w[off + 209] = 0x21; }
      else {
        w[off] = 0x1f;
        w[off + 1] = 0x21;
        if (type == GgmlType::Q4_K || type == GgmlType::Q5_K) { w[off + 2] = 0x1f; w[off + 3] = 0x1d; }  // dmin
      }
    }
  } else if (type == GgmlType::F16 || type == GgmlType::BF16) {
    for (size_t off = 0; off < w.size(); off += 2) w[off + 1] &= 0x3b;
  } else {
    for (size_t off = 0; off < w.size(); off += 4) w[off + 3] &= 0x3e;
  }
  const bool x8 = std::getenv("HB_BENCH_X8") && k->gemm_x8 && rows % 8 == 0;
  size_t copy_stride = mat_bytes;
  if (x8) {
    const size_t gb = x8_group_bytes(type, n);
    copy_stride = static_cast<size_t>(rows / 8) * gb;  // Q4_K's layout is a little larger than the GGUF rows
    std::vector<uint8_t> packed(copy_stride * copies);
    for (size_t c = 0; c < copies; ++c)
      for (int64_t g = 0; g < rows / 8; ++g)
        pack_rows_x8(type, w.data() + c * mat_bytes + static_cast<size_t>(g) * 8 * row_bytes, row_bytes, n,
                     packed.data() + c * copy_stride + static_cast<size_t>(g) * gb);
    w.swap(packed);
  }
  std::vector<float> x(static_cast<size_t>(n * ntok));
  for (auto& v : x) v = static_cast<float>((s = s * 6364136223846793005ull + 1) >> 40) / 16777216.0f - 0.5f;
  const size_t x_stride = act_row_bytes(k->act, n);
  std::vector<uint8_t> xq(x_stride * static_cast<size_t>(ntok));
  for (int64_t t = 0; t < ntok; ++t) k->quantize_act(x.data() + t * n, xq.data() + t * x_stride, n);
  std::vector<float> y(static_cast<size_t>(rows * ntok));

  // Each thread owns a contiguous slice of rows and runs it `iters` times.
  const double target_s = 1.0;
  auto run = [&](int iters) {
    std::vector<std::thread> pool;
    std::atomic<int> ready{0};
    auto t0 = std::chrono::steady_clock::now();
    for (int th = 0; th < threads; ++th) {
      pool.emplace_back([&, th] {
        const int64_t r0 = rows * th / threads / 8 * 8, r1 = th + 1 == threads ? rows : rows * (th + 1) / threads / 8 * 8;
        ready.fetch_add(1);
        while (ready.load() < threads) {}
        for (int it = 0; it < iters; ++it) {
          const uint8_t* wm = w.data() + (static_cast<size_t>(it) % copies) * copy_stride;
          if (x8)
            k->gemm_x8(n, wm + static_cast<size_t>(r0 / 8) * x8_group_bytes(type, n), x8_group_bytes(type, n), r1 - r0,
                       xq.data(), x_stride, ntok, y.data() + r0, static_cast<size_t>(rows));
          else
            k->gemm(n, wm + static_cast<size_t>(r0) * row_bytes, row_bytes, r1 - r0, xq.data(), x_stride, ntok,
                    y.data() + r0, static_cast<size_t>(rows));
        }
      });
    }
    for (auto& t : pool) t.join();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  // Process CPU time over a run, per thread: on a shared machine this excludes time other processes
  // took from us (wall time is reported too).
  auto cpu_now = [] {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  };
  run(static_cast<int>(copies));  // warm up / page in
  int iters = 1;
  double secs = run(iters);
  while (secs < target_s / 4) {
    iters *= 2;
    secs = run(iters);
  }
  iters = static_cast<int>(iters * target_s / secs) + 1;
  const double c0 = cpu_now();
  secs = run(iters);
  const double cpu_per = (cpu_now() - c0) / threads / iters;
  const double per = secs / iters;
  const double gbs = static_cast<double>(copy_stride) / per / 1e9;
  const double gops = 2.0 * static_cast<double>(n) * static_cast<double>(rows) * static_cast<double>(ntok) / per / 1e9;
  std::printf(x8 ? "x8 " : "");
  std::printf("%-5s %-8s n=%-5lld rows=%-5lld ntok=%-4lld threads=%d: %8.3f ms  %7.2f GB/s weights  %8.2f GOP/s"
              "   (by CPU time: %7.2f GB/s  %8.2f GOP/s)\n",
              ggml_type_name(type), isa_name(isa), static_cast<long long>(n), static_cast<long long>(rows),
              static_cast<long long>(ntok), threads, per * 1e3, gbs, gops, gbs * per / cpu_per, gops * per / cpu_per);
  return 0;
}
