#include "membw.h"

#include <algorithm>
#include <exception>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "error.h"

namespace hb {

namespace {

// Bytes ahead of the reads that the probe prefetches. Without a software lead one core keeps too
// few cache misses in flight, and the probe read slower than the matrix kernels do (which
// prefetch): measured on Zen 3 with 2 threads, about 13 GB/s without, 19-21 with.
constexpr size_t kProbePrefetchBytes = 2048;

// words (n,) -> their sum; eight independent sums so the loop is bound by loads, not adds.
uint64_t read_slice(const uint64_t* words, size_t n) {
  uint64_t s[8] = {};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __builtin_prefetch(reinterpret_cast<const char*>(words + i) + kProbePrefetchBytes);
    for (int k = 0; k < 8; ++k) s[k] += words[i + k];
  }
  for (; i < n; ++i) s[0] += words[i];
  uint64_t sum = 0;
  for (uint64_t v : s) sum += v;
  return sum;
}

}  // namespace

ReadBandwidth measure_read_bandwidth(int threads, size_t bytes, int passes) {
  if (threads < 1 || threads > 1024)
    fail("INVALID_ARGUMENT", "Expected 1 to 1024 threads but received " + std::to_string(threads));
  if (bytes < (size_t{1} << 20) || bytes > (size_t{1} << 40))
    fail("INVALID_ARGUMENT", "Expected 1 MiB to 1 TiB to read but received " + std::to_string(bytes) + " bytes");
  if (passes < 1 || passes > 1000) fail("INVALID_ARGUMENT", "Expected 1 to 1000 passes but received " + std::to_string(passes));
  const size_t words = bytes / 8;
  std::unique_ptr<uint64_t[]> buf(new (std::nothrow) uint64_t[words]);
  if (!buf) fail("OUT_OF_MEMORY", "Could not allocate " + std::to_string(bytes) + " bytes to measure read bandwidth");
  for (size_t i = 0; i < words; ++i) buf[i] = i;  // touch every page before timing

  std::vector<double> gbps;
  std::atomic<uint64_t> sink{0};
  for (int pass = 0; pass < passes; ++pass) {
    std::atomic<bool> go{false};
    std::vector<std::thread> workers;
    std::atomic<int> ready{0};
    auto slice = [&](int t) {
      const size_t begin = words * static_cast<size_t>(t) / static_cast<size_t>(threads);
      const size_t end = words * static_cast<size_t>(t + 1) / static_cast<size_t>(threads);
      sink.fetch_add(read_slice(buf.get() + begin, end - begin), std::memory_order_relaxed);
    };
    try {
      for (int t = 1; t < threads; ++t)
        workers.emplace_back([&, t] {
          ready.fetch_add(1);
          while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
          slice(t);
        });
    } catch (const std::exception& e) {
      // Release and join the threads already started (a joinable std::thread must not be destroyed).
      go.store(true, std::memory_order_release);
      for (std::thread& w : workers) w.join();
      fail("INTERNAL", std::string("Could not start the threads to measure read bandwidth: ") + e.what());
    }
    while (ready.load() < threads - 1) std::this_thread::yield();
    const auto t0 = std::chrono::steady_clock::now();
    go.store(true, std::memory_order_release);
    slice(0);
    for (std::thread& w : workers) w.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    gbps.push_back(static_cast<double>(words * 8) / s / 1e9);
  }
  std::sort(gbps.begin(), gbps.end());
  ReadBandwidth r;
  r.median_gbps = gbps[gbps.size() / 2];
  r.best_gbps = gbps.back();
  r.threads = threads;
  r.bytes = words * 8;
  r.passes = passes;
  return r;
}

}  // namespace hb
