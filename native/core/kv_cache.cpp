// KV cache layout (kv_cache.h).
#include "kv_cache.h"

#include <algorithm>
#include <new>

#include "error.h"
#include "model.h"
#include "platform.h"

namespace hb {

KvCache::KvCache(const HParams& hp, int64_t n_ctx, int64_t max_batch, int64_t chunk, bool full_windows)
    : n_kv_(hp.n_head_kv * hp.head_dim) {
  layers_.resize(static_cast<size_t>(hp.n_layer));
  double total = 0;
  for (int64_t il = 0; il < hp.n_layer; il++) {
    Layer& L = layers_[static_cast<size_t>(il)];
    L.window = hp.layer_cfg.empty() ? 0 : hp.layer_cfg[static_cast<size_t>(il)].window;
    L.cap = n_ctx;
    if (L.window > 0 && !full_windows) {
      const int64_t ring = (L.window + max_batch - 1 + chunk - 1) / chunk * chunk;
      if (ring < n_ctx) L.cap = ring;
    }
    max_window_ = std::max(max_window_, L.window);
    if (L.cap < n_ctx) ring_cap_ = L.cap;
    total += 2.0 * static_cast<double>(L.cap) * static_cast<double>(n_kv_);
  }
  if (total > 1e15) throw std::bad_alloc();  // reported as OUT_OF_MEMORY by Context::Context
  // Refused before allocating when it cannot fit: pages are committed lazily, so an allocation
  // past free memory would "succeed" and the process would be killed later, mid-generation.
  const double bytes = total * sizeof(uint16_t);
  const uint64_t available = platform::available_memory();
  if (available > 0 && bytes > static_cast<double>(available))
    fail("OUT_OF_MEMORY", "Expected a KV cache that fits in memory for a context of " + std::to_string(n_ctx) +
                              " tokens but it needs " + platform::format_bytes(static_cast<uint64_t>(bytes)) +
                              " and the system has " + platform::format_bytes(available) +
                              " available; use a smaller context size");
  size_t off = 0;
  for (Layer& L : layers_) {
    L.k_off = off;
    off += static_cast<size_t>(L.cap) * static_cast<size_t>(n_kv_);
    L.v_off = off;
    off += static_cast<size_t>(L.cap) * static_cast<size_t>(n_kv_);
  }
  total_ = off;
  // Left uninitialized: attention reads only slots of positions already written (masked slots of
  // a chunk are never multiplied into values), and untouched pages of a large context cost no
  // memory until used.
  data_.reset(new uint16_t[total_]);
  ring_pos_.assign(static_cast<size_t>(ring_cap_), -1);
}

bool KvCache::can_keep(int64_t n) const {
  if (n == 0 || max_window_ == 0) return true;
  const int64_t lo = std::max<int64_t>(0, n - max_window_ + 1);
  if (lo < window_floor_) return false;
  if (ring_cap_)
    for (int64_t p = lo; p < n; p++)
      if (ring_pos_[static_cast<size_t>(p % ring_cap_)] != p) return false;
  return true;
}

int64_t KvCache::first_needed(int64_t il, int64_t n_past) const {
  const int64_t w = layers_[static_cast<size_t>(il)].window;
  return w > 0 ? std::max<int64_t>(std::max<int64_t>(0, n_past - w + 1), std::min(window_floor_, n_past)) : 0;
}

}  // namespace hb
