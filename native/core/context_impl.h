// Context internals shared by context.cpp (the forward pass) and state_file.cpp (session
// files). Not part of the public interface.
#pragma once
#include <atomic>
#include <memory>
#include <vector>

#include "backend.h"
#include "kv_cache.h"
#include "model_impl.h"

namespace hb {

constexpr int64_t kMaxBatch = 512;          // tokens per gemm: weights are read once per batch
constexpr int64_t kRowsPerTask = 16;        // matmul row granularity; fixed so results never depend on threads
constexpr int64_t kAttnTokensPerTask = 16;  // query tokens per attention task
// Attention reduces over positions in fixed chunks of this many (softmax partials merged in
// chunk order), so a long context splits into independent tasks while results never depend on
// the thread count, and per-thread score scratch does not grow with the context.
constexpr int64_t kAttnChunk = 256;
// Jobs below this many multiply-adds run on the calling thread: waking the pool would cost more
// than the work (tiny models, short contexts). Tasks and their arithmetic stay the same.
constexpr double kInlineWork = 32768;

struct Context::Impl {
  const Model::Impl& m;
  const HParams& hp;
  ThreadPool& pool;
  int64_t n_ctx = 0;
  int64_t n_past = 0;
  int64_t max_batch = 0;
  int64_t n_q = 0, n_kv = 0, group = 1;
  const TypeKernels* f16 = nullptr;  // gemm over the F16 KV cache
  std::unique_ptr<KvCache> kv;
  // Per rope variant (HParams::ropes): the per-pair divisors this context uses (rope_freqs, or
  // LongRoPE's long or short factors by the context size), or null.
  std::vector<const float*> rope_factors;
  Context::Stats stats;
  // The backends this context runs layers on (backend.h): the CPU (today's code over the
  // scratch below), and optionally a device backend; `split` says which layers run where.
  std::unique_ptr<Backend> cpu;
  std::unique_ptr<Backend> device;
  LayerSplit split;
  std::vector<float> cross;  // (B, D) host copy of x where the split crosses between devices
  // Layers [0, n_first) on `first`, the rest on `rest` (both live as long as this context).
  void set_split(Backend* first, Backend* rest, int64_t n_first);

  // Scratch, allocated once (B = max_batch rows).
  std::vector<float> x;      // (B, D) residual stream
  std::vector<float> xb;     // (B, D) normed input of a sublayer
  std::vector<float> xb2;    // (B, D) sublayer output
  std::vector<float> q;      // (B, Hq * hd)
  std::vector<float> k;      // (B, Hkv * hd)
  std::vector<float> v;      // (B, Hkv * hd)
  std::vector<float> att;    // (B, Hq * hd) attention output
  std::vector<float> hb;     // (B, F) gate, then act(gate) * up
  std::vector<float> hb2;    // (B, F) up
  std::vector<float> rope_cs;  // (n_ropes, B, rope_dim / 2, 2): cos, sin per variant, position and pair
  std::vector<uint8_t> act_bufs[3];  // quantized activations, one buffer per ActFormat
  // Mixture of experts, K = experts used per token: router logits (B, E), chosen experts and
  // weights (B, K), the batch's rows gathered by expert (B*K, D), their gate/up (B*K, Fe) and
  // down outputs (B*K, D), and quantized gathered rows (per ActFormat).
  std::vector<float> moe_logits, moe_probs, moe_w;
  std::vector<int32_t> moe_ids;
  std::unique_ptr<float[]> moe_x, moe_g, moe_u, moe_o;
  std::vector<uint8_t> moe_act_bufs[3];
  std::vector<int64_t> moe_slot;  // (B*K,) where row r's k-th expert output lies in moe_o
  // Attention, per thread (Tb = kAttnTokensPerTask, whatever max_batch is, so one layout
  // serves every context of a batch): q block (G*Tb, hd), scores (G*Tb, kAttnChunk), chunk
  // outputs (G*Tb, hd), running states (G*Tb, 2 + hd), chunk maxima and sums (G*Tb, 2).
  std::unique_ptr<float[]> attn_scratch;
  size_t attn_scratch_per_thread = 0;
  // Attention of a single query row split across chunks: one state [m, s, o (hd,)] per query
  // head and chunk, (Hq, n_chunks, 2 + hd), merged after all chunks are done.
  std::unique_ptr<float[]> attn_partials;
  int64_t n_chunks = 0;  // ceil(n_ctx / kAttnChunk)
  std::vector<int64_t> seg_first_task;    // (B + 1,) attention: first task of each segment
  std::vector<int64_t> seg_first_merge;   // (B + 1,) attention: first merge task of each segment

  Impl(const Model& model, int64_t n_ctx_req, bool full_windows, int64_t rope_n_ctx);
  void quantize_input(ActInput& in, const TypeKernels* k);
  // Each job: W (rows, n) @ in rows^T -> y (ntok, rows) (backend.h MatJob), on the pool.
  void matmuls(const MatJob* jobs, int n_jobs);
  // fn(task, thread) for tasks [0, n_tasks): on the pool, or inline (thread 0) when `work`
  // (multiply-adds, roughly) is too small to pay for waking it.
  template <class Fn>
  void run_tasks(int64_t n_tasks, double work, Fn&& fn) {
    if (work < kInlineWork || n_tasks == 1) {
      for (int64_t t = 0; t < n_tasks; t++) fn(t, 0);
      return;
    }
    pool.parallel_for_indexed(n_tasks, fn);
  }
  // Rows per matmul task: a few long contiguous runs per thread, so each thread streams its
  // weights (prefetch stays useful, few claims). Any split gives the same results.
  int64_t task_rows(int64_t rows) const {
    const int64_t per = (rows + 4 * pool.size() - 1) / (4 * pool.size());
    return std::max(kRowsPerTask, (per + kRowsPerTask - 1) / kRowsPerTask * kRowsPerTask);
  }
  // q (B, Hq*hd) -> att rows r0..B-1 (see context.cpp).
  void attention(int64_t layer, const Segment* segs, int64_t n_segs, int64_t r0, const float* q, float* att);
  // xb rows r0..B-1 -> xb2 rows r0..B-1: the layer's mixture of experts.
  void moe_ffn(const LayerWeights& L, const float* xb, float* xb2, int64_t r0, int64_t B);
  // What forward writes: nothing (KV rows only), logits of the last row or of every row, or
  // every row's final hidden state (after the output norm, before the output matrix).
  enum class Output { None, LastLogits, AllLogits, AllHidden };
  // Runs B rows through this context's scratch (each segment's own KV cache); false if
  // *cancel became true (checked between layers; no n_past is changed either way).
  bool forward(const int32_t* tokens, int64_t B, const Segment* segs, int64_t n_segs, Output what, float* out,
               const std::atomic<bool>* cancel);
  static Impl& of(const Segment& sg) { return *static_cast<Impl*>(sg.ctx); }
  void decode_rows(const int32_t* tokens, int64_t n, Output what, std::vector<float>& out,
                   const std::atomic<bool>* cancel);
};

// Today's CPU code behind the seam (backend_cpu.cpp). own_scratch: its own x .. hb2 buffers
// (a second CPU backend in a layer split, for tests of the split); otherwise the context's.
std::unique_ptr<Backend> make_cpu_backend(Context::Impl& c, bool own_scratch);

}  // namespace hb
