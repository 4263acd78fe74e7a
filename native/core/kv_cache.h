// The KV cache of one sequence: F16 keys and values per layer, as llama.cpp stores them by
// default. Full-attention layers keep a slot for every position (n_ctx). Sliding-window layers
// of window W keep only the last positions they can need: a ring of cap = W + max_batch - 1
// slots rounded up to the attention chunk, position p in slot p % cap (or n_ctx slots when that
// is not smaller). A batch writes all its rows before attending, so every row still finds its
// whole window in the ring; chunks of kAttnChunk positions map to contiguous slots.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

namespace hb {

struct HParams;

class KvCache {
 public:
  // Rows of Hkv * hd values per position. full_windows: give sliding-window layers all n_ctx slots too.
  KvCache(const HParams& hp, int64_t n_ctx, int64_t max_batch, int64_t chunk, bool full_windows);

  // Layer il: K rows (cap, n_kv), one per slot; V transposed (n_kv, cap), so attention's weighted
  // sum is a gemm.
  uint16_t* k(int64_t il) const { return data_.get() + layers_[static_cast<size_t>(il)].k_off; }
  uint16_t* v(int64_t il) const { return data_.get() + layers_[static_cast<size_t>(il)].v_off; }
  int64_t cap(int64_t il) const { return layers_[static_cast<size_t>(il)].cap; }
  int64_t window(int64_t il) const { return layers_[static_cast<size_t>(il)].window; }
  int64_t slot(int64_t il, int64_t pos) const {
    const int64_t c = layers_[static_cast<size_t>(il)].cap;
    return pos < c ? pos : pos % c;
  }
  int64_t n_kv() const { return n_kv_; }
  size_t bytes() const { return total_ * sizeof(uint16_t); }

  // Records that position pos was written (in every layer).
  void note_written(int64_t pos) {
    if (ring_cap_) ring_pos_[static_cast<size_t>(pos % ring_cap_)] = pos;
  }
  // Whether a sequence cut back to its first n positions can go on: every window layer still
  // holds the positions n-W+1 .. n-1 (full layers always do).
  bool can_keep(int64_t n) const;
  // After a cut to 0 or a restore: positions below lo are not held by window layers.
  void set_window_floor(int64_t lo) { window_floor_ = lo; }
  int64_t window_floor() const { return window_floor_; }
  // For session files: the first position of the last n_past that layer il needs kept.
  int64_t first_needed(int64_t il, int64_t n_past) const;

 private:
  struct Layer {
    int64_t cap = 0, window = 0;
    size_t k_off = 0, v_off = 0;
  };
  std::vector<Layer> layers_;
  std::unique_ptr<uint16_t[]> data_;
  size_t total_ = 0;
  int64_t n_kv_ = 0;
  int64_t ring_cap_ = 0;             // the ring layers' cap (0: none); all windows are alike
  int64_t max_window_ = 0;
  std::vector<int64_t> ring_pos_;    // (ring_cap,) position each ring slot holds, -1: none
  int64_t window_floor_ = 0;
};

}  // namespace hb
