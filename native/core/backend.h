// The backend seam: every operation the forward pass runs on a layer, over buffers in the
// backend's own memory, so a layer can run on the CPU (backend_cpu.cpp, today's code) or on
// another device (native/cuda/, built with -DHALFBYTE_CUDA=ON). One virtual call per operation
// per layer; the work inside is the backend's. Weights are named by their MatWeight / VecWeight
// (the handle: the host copy bound at load); a device backend keeps its own copy of each,
// uploaded once, and looks it up by the handle.
//
// Layer ranges (LayerSplit): layers [0, n_first) run on backend `first`, the rest on `rest`; the
// hidden state x (B, D) crosses through host memory once per boundary. Embeddings are looked up
// on the host; the output norm and head run on the last layer's backend and the logits (or
// hidden states) come back to the host.
//
// Shapes as in context.cpp: B rows of the batch, D = n_embd, Hq/Hkv heads, hd = head_dim.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "arch.h"

namespace hb {

struct MatWeight;
struct VecWeight;
struct LayerWeights;

// One matmul input (ntok rows of n floats in the backend's memory), prepared (quantized) lazily
// once per activation format and shared by every weight that reads it (Q, K and V; gate and up;
// all experts' rows). `bufs` is the backend's scratch for the prepared forms.
struct ActInput {
  const float* x = nullptr;  // (ntok, n)
  int64_t ntok = 0, n = 0;
  bool ready[3] = {false, false, false};
  void* bufs = nullptr;  // backend-specific (CPU: 3 std::vector<uint8_t>, one per ActFormat)
};

// W (rows, n) @ in rows [row0, row0 + ntok) ^T -> y (ntok, rows), y rows y_stride floats apart.
struct MatJob {
  const MatWeight* w;
  ActInput* in;
  float* y;
  size_t y_stride;
  int64_t row0 = 0, ntok = -1;  // ntok -1: all of in's rows
};

// Rows [row0, row0 + n) of a forward batch: tokens of the sequence `ctx` at positions
// p0 .. p0 + n - 1 (ctx is the sequence's Context::Impl; a backend finds that sequence's KV
// cache through it).
struct Segment {
  void* ctx;
  int64_t row0, n, p0;
};

// A backend's per-batch buffers (rows of the batch, floats in its memory).
struct Scratch {
  float* x = nullptr;    // (B, D) residual stream
  float* xb = nullptr;   // (B, D) normed input of a sublayer
  float* xb2 = nullptr;  // (B, D) sublayer output
  float* q = nullptr;    // (B, Hq * hd)
  float* k = nullptr;    // (B, Hkv * hd)
  float* v = nullptr;    // (B, Hkv * hd)
  float* att = nullptr;  // (B, Hq * hd) attention output
  float* hb = nullptr;   // (B, F) gate, then act(gate) * up
  float* hb2 = nullptr;  // (B, F) up
  float* out = nullptr;  // (B, max(V, D)) logits or final hidden states
  void* act = nullptr;   // ActInput::bufs for matmul inputs
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  virtual Scratch& scratch() = 0;
  // Whether scratch() is host memory (then results may go straight into host arrays).
  virtual bool host_memory() const = 0;
  // host (n,) -> dst (n,) in the backend's memory, and back. Same memory: a copy or nothing.
  virtual void to_backend(float* dst, const float* host, size_t n) = 0;
  virtual void to_host(float* host, const float* src, size_t n) = 0;
  // Rope angles of the batch, (n_ropes, B, half, 2) as built on the host (ops.h rope_angles).
  virtual void set_rope_angles(const float* host_cs, size_t n) = 0;

  // Each job: W (rows, n) @ in rows^T -> y (ntok, rows). Jobs may share inputs.
  virtual void matmuls(const MatJob* jobs, int n_jobs) = 0;
  // x (rows, n) -> out (rows, n) = rmsnorm(x row) * w (n,)   (out may be x)
  virtual void rmsnorm(float* out, const float* x, const VecWeight& w, int64_t rows, int64_t n, float eps) = 0;
  // y (rows, n) += b (n,)
  virtual void add_bias(float* y, const VecWeight& b, int64_t rows, int64_t n) = 0;
  // x (n,) += y (n,)
  virtual void add(float* x, const float* y, int64_t n) = 0;
  // q (B, Hq, hd), k (B, Hkv, hd) rotated by rope variant `rope` of the angles; then q *=
  // q_scale unless it is 0.
  virtual void rope(float* q, float* k, int64_t B, int64_t rope, RopeStyle style, float q_scale) = 0;
  // gate (n,), up (n,) -> gate = act(gate) * up
  virtual void gated_activation(FfnActivation act, float* gate, const float* up, int64_t n) = 0;
  // x (n,) = cap * tanh(x / cap)
  virtual void softcap(float* x, int64_t n, float cap) = 0;
  // Each segment's KV cache of layer il <- k, v rows of its tokens at their positions.
  virtual void kv_store(int64_t il, const Segment* segs, int64_t n_segs, const float* k, const float* v) = 0;
  // q (B, Hq*hd) -> att rows r0..B-1: causal attention over each segment's cache of layer il.
  virtual void attention(int64_t il, const Segment* segs, int64_t n_segs, int64_t r0, const float* q, float* att) = 0;
  // xb rows r0..B-1 (D) -> xb2 rows r0..B-1: the layer's mixture of experts (routing included).
  virtual void moe_ffn(const LayerWeights& L, const float* xb, float* xb2, int64_t r0, int64_t B) = 0;
};

// Which backend runs which layers: [0, n_first) on `first`, [n_first, n_layer) on `rest`.
struct LayerSplit {
  Backend* first = nullptr;
  Backend* rest = nullptr;
  int64_t n_first = 0;
  Backend& of(int64_t il) const { return il < n_first ? *first : *rest; }
};

}  // namespace hb
