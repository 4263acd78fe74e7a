// The CPU backend: the forward pass's operations as they always ran, over host buffers and the
// model's thread pool (the matrix products, attention and experts are Context::Impl's, in
// context.cpp). Results are bit-for-bit those of the code before the seam: the same calls per
// row in the same order.
#include <cstring>
#include <vector>

#include "backend.h"
#include "context_impl.h"
#include "ops.h"
#include "quant/fp16.h"

namespace hb {

namespace {

class CpuBackend final : public Backend {
 public:
  CpuBackend(Context::Impl& c, bool own_scratch) : c_(c) {
    if (own_scratch) {
      for (const std::vector<float>* v : {&c.x, &c.xb, &c.xb2, &c.q, &c.k, &c.v, &c.att, &c.hb, &c.hb2})
        own_.emplace_back(v->size());
      float** dst[9] = {&s_.x, &s_.xb, &s_.xb2, &s_.q, &s_.k, &s_.v, &s_.att, &s_.hb, &s_.hb2};
      for (size_t i = 0; i < 9; i++) *dst[i] = own_[i].data();
    } else {
      s_ = {c.x.data(), c.xb.data(), c.xb2.data(), c.q.data(), c.k.data(), c.v.data(), c.att.data(), c.hb.data(),
            c.hb2.data(), nullptr, nullptr};
    }
    s_.act = c.act_bufs;  // shared by both: calls are sequential
  }
  const char* name() const override { return "cpu"; }
  Scratch& scratch() override { return s_; }
  bool host_memory() const override { return true; }
  void to_backend(float* dst, const float* host, size_t n) override {
    if (dst != host) std::memcpy(dst, host, n * sizeof(float));
  }
  void to_host(float* host, const float* src, size_t n) override {
    if (host != src) std::memcpy(host, src, n * sizeof(float));
  }
  void set_rope_angles(const float* host_cs, size_t n) override { cs_ = host_cs; }

  void matmuls(const MatJob* jobs, int n_jobs) override { c_.matmuls(jobs, n_jobs); }

  // x (rows, n) -> out (rows, n), one row at a time
  void rmsnorm(float* out, const float* x, const VecWeight& w, int64_t rows, int64_t n, float eps) override {
    for (int64_t t = 0; t < rows; t++) hb::rmsnorm(out + t * n, x + t * n, w.data, n, eps);
  }
  // y (rows, n) += b (n,)
  void add_bias(float* y, const VecWeight& b, int64_t rows, int64_t n) override {
    for (int64_t t = 0; t < rows; t++)
      for (int64_t i = 0; i < n; i++) y[t * n + i] += b.data[i];
  }
  void add(float* x, const float* y, int64_t n) override {
    for (int64_t i = 0; i < n; i++) x[i] += y[i];
  }
  // per row t: q (Hq, hd), k (Hkv, hd) rotated by cs (half, 2) of its position; q *= q_scale
  void rope(float* q, float* k, int64_t B, int64_t rope, RopeStyle style, float q_scale) override {
    const HParams& hp = c_.hp;
    const int64_t half = hp.rope_dim / 2, hd = hp.head_dim, n_q = c_.n_q, n_kv = c_.n_kv;
    const size_t cs_per_rope = static_cast<size_t>(B) * 2 * static_cast<size_t>(half);
    for (int64_t t = 0; t < B; t++) {
      const float* cs = cs_ + static_cast<size_t>(rope) * cs_per_rope + t * 2 * half;
      rope_apply(q + t * n_q, hp.n_head, hd, half, style, cs);
      rope_apply(k + t * n_kv, hp.n_head_kv, hd, half, style, cs);
      if (q_scale != 0.0f)
        for (int64_t i = 0; i < n_q; i++) q[t * n_q + i] *= q_scale;
    }
  }
  void gated_activation(FfnActivation act, float* gate, const float* up, int64_t n) override {
    hb::gated_activation(act, gate, up, n);
  }
  void softcap(float* x, int64_t n, float cap) override { hb::softcap(x, n, cap); }

  // K rows (cap, n_kv) at their slots, V transposed (n_kv, cap), as F16
  void kv_store(int64_t il, const Segment* segs, int64_t n_segs, const float* k, const float* v) override {
    const int64_t n_kv = c_.n_kv;
    for (int64_t si = 0; si < n_segs; si++) {
      const KvCache& cache = *Context::Impl::of(segs[si]).kv;
      uint16_t* k_layer = cache.k(il);
      uint16_t* v_layer = cache.v(il);
      const int64_t cap = cache.cap(il);
      for (int64_t j = 0; j < segs[si].n; j++) {
        const int64_t t = segs[si].row0 + j, slot = cache.slot(il, segs[si].p0 + j);
        uint16_t* krow = k_layer + slot * n_kv;
        for (int64_t i = 0; i < n_kv; i++) krow[i] = f32_to_fp16(k[t * n_kv + i]);
        for (int64_t i = 0; i < n_kv; i++) v_layer[i * cap + slot] = f32_to_fp16(v[t * n_kv + i]);
      }
    }
  }
  void attention(int64_t il, const Segment* segs, int64_t n_segs, int64_t r0, const float* q, float* att) override {
    c_.attention(il, segs, n_segs, r0, q, att);
  }
  void moe_ffn(const LayerWeights& L, const float* xb, float* xb2, int64_t r0, int64_t B) override {
    c_.moe_ffn(L, xb, xb2, r0, B);
  }

 private:
  Context::Impl& c_;
  Scratch s_;
  std::vector<std::vector<float>> own_;
  const float* cs_ = nullptr;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(Context::Impl& c, bool own_scratch) {
  return std::unique_ptr<Backend>(new CpuBackend(c, own_scratch));
}

}  // namespace hb
