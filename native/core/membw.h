// Memory read bandwidth probe: the ceiling generation speed is measured against (each generated
// token reads every weight once, so tokens/s x weight bytes <= this figure).
#pragma once
#include <cstddef>

namespace hb {

struct ReadBandwidth {
  double median_gbps;  // GB/s (1e9 bytes/s), median of the passes
  double best_gbps;
  int threads;
  size_t bytes;  // buffer size read per pass
  int passes;
};

// Reads a fresh `bytes` buffer (touched first, so no page faults are timed) `passes` times with
// `threads` threads, each streaming one contiguous slice, as the matmul threads do. Throws
// hb::Error INVALID_ARGUMENT for threads outside 1..1024, bytes outside 1 MiB..1 TiB or passes
// outside 1..1000, OUT_OF_MEMORY when the buffer cannot be allocated.
ReadBandwidth measure_read_bandwidth(int threads, size_t bytes, int passes);

}  // namespace hb
