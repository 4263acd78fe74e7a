// The forward pass over a bound Model, in the llama2.c style: every step says its shapes. A
// batch is the next tokens of one sequence (decode, decode_hidden) or one token of each of
// several sequences (decode_batch); either way every weight matrix is read once per batch.
// B = rows in the current batch (<= kMaxBatch), D = n_embd, Hq/Hkv = query/KV heads,
// hd = head_dim, G = Hq / Hkv (query heads per KV head), F = n_ff, V = n_vocab.
// Also: session state files (save_state / load_state), at the end.
//
// Numerics follow llama.cpp's CPU backend where it matters for agreement: RMSNorm sums squares
// in double, rope angles are built by repeated float multiplication, exp is accurate to ~1 ulp.
// The KV cache stores F16, as llama.cpp does by default.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>

#if defined(_WIN32)
#include <io.h>
#include <process.h>
#define HB_GETPID _getpid
#else
#include <unistd.h>
#define HB_GETPID getpid
#endif

#include "error.h"
#include "model_impl.h"
#include "quant/fp16.h"

namespace hb {

namespace {

constexpr int64_t kMaxBatch = 512;         // tokens per gemm: weights are read once per batch
constexpr int64_t kRowsPerTask = 16;       // matmul rows per task; fixed so results never depend on threads
constexpr int64_t kAttnTokensPerTask = 16; // query tokens per attention task
// Attention reduces over positions in fixed chunks of this many (softmax partials merged in
// chunk order), so a long context splits into independent tasks while results never depend on
// the thread count, and per-thread score scratch does not grow with the context.
constexpr int64_t kAttnChunk = 256;
// Jobs below this many multiply-adds run on the calling thread: waking the pool would cost more
// than the work (tiny models, short contexts). Tasks and their arithmetic stay the same.
constexpr double kInlineWork = 32768;

// x (n,) * w (n,) -> out (n,): out = x / sqrt(mean(x^2) + eps) * w
void rmsnorm(float* out, const float* x, const float* w, int64_t n, float eps) {
  double sum = 0;
  for (int64_t i = 0; i < n; i++) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  for (int64_t i = 0; i < n; i++) out[i] = (x[i] * scale) * w[i];
}

// x (n,) -> exp(x) (n,) in place, for softmax and SiLU. Cody-Waite reduction x = k ln2 + r,
// |r| <= ln2/2, then a degree-6 Taylor polynomial: relative error below 3e-7, about what
// llama.cpp's own SIMD exp gives. Branch-free passes, so they vectorize with the baseline ISA
// (libm's expf is a call per element): first clamp to where 2^k is a normal float (below -87.3
// gives ~1e-38 instead of 0, harmless in sums), then evaluate. NaN stays NaN.
void exp_inplace(float* x, int64_t n) {
  const float hi = 88.0f, lo = -87.3365478515625f;
  for (int64_t i = 0; i < n; i++) {
    float v = x[i];
    v = hi < v ? hi : v;
    v = v < lo ? lo : v;
    x[i] = v;
  }
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    const float shifted = v * 1.44269504088896341f + 12582912.0f;  // 1.5 * 2^23 + round(v / ln2)
    const float k = shifted - 12582912.0f;
    const float r = (v - k * 0.693359375f) + k * 2.12194440e-4f;  // v - k ln2 in two parts
    float p = 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    // 2^k from the integer in shifted's low mantissa bits (no float->int conversion)
    uint32_t k_bits;
    std::memcpy(&k_bits, &shifted, sizeof(k_bits));
    const uint32_t bits = (k_bits - 0x4B400000u + 127u) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof(scale));
    x[i] = p * scale;
  }
}

// x (n,) -> x (n,) = exp(x * scale - m), m = max(x * scale); returns m and *sum = sum of the
// results: one chunk's unnormalized softmax. Max and sum in 8 float lanes (vectorizes).
float exp_shifted(float* x, int64_t n, float scale, float* sum) {
  for (int64_t i = 0; i < n; i++) x[i] *= scale;
  float lanes[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; l++) lanes[l] = lanes[l] < x[i + l] ? x[i + l] : lanes[l];
  for (; i < n; i++) lanes[0] = lanes[0] < x[i] ? x[i] : lanes[0];
  float max_v = lanes[0];
  for (int l = 1; l < 8; l++) max_v = max_v < lanes[l] ? lanes[l] : max_v;
  for (int64_t j = 0; j < n; j++) x[j] -= max_v;
  exp_inplace(x, n);
  for (int l = 0; l < 8; l++) lanes[l] = 0;
  i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; l++) lanes[l] += x[i + l];
  for (; i < n; i++) lanes[0] += x[i];
  *sum = static_cast<float>(((double(lanes[0]) + lanes[1]) + (double(lanes[2]) + lanes[3])) +
                            ((double(lanes[4]) + lanes[5]) + (double(lanes[6]) + lanes[7])));
  return max_v;
}

// One query row's running softmax state, [m, s, o (hd,)]: m the largest scaled score so far,
// s the sum of exp(score - m), o the sum of exp(score - m) * v. fold() merges a chunk's
// (m2, s2, o2) into it (both rescaled to the larger max); the first chunk is copied.
void fold(float* run, float m2, float s2, const float* o2, int64_t hd, bool first) {
  if (first) {
    run[0] = m2;
    run[1] = s2;
    std::memcpy(run + 2, o2, sizeof(float) * static_cast<size_t>(hd));
    return;
  }
  const float m = std::max(run[0], m2);
  float e[2] = {run[0] - m, m2 - m};
  exp_inplace(e, 2);
  run[0] = m;
  run[1] = run[1] * e[0] + s2 * e[1];
  for (int64_t i = 0; i < hd; i++) run[2 + i] = run[2 + i] * e[0] + o2[i] * e[1];
}

// Running state [m, s, o (hd,)] -> out (hd,) = o / s: the row's attention output.
void finish(float* out, const float* run, int64_t hd) {
  const float inv = 1.0f / run[1];
  for (int64_t i = 0; i < hd; i++) out[i] = run[2 + i] * inv;
}

// gate (n,), up (n,) -> gate (n,) = silu(gate) * up = gate / (1 + exp(-gate)) * up
void swiglu(float* gate, const float* up, int64_t n) {
  float e[64];
  for (int64_t i0 = 0; i0 < n; i0 += 64) {
    const int64_t m = std::min<int64_t>(64, n - i0);
    for (int64_t i = 0; i < m; i++) e[i] = -gate[i0 + i];
    exp_inplace(e, m);
    for (int64_t i = 0; i < m; i++) gate[i0 + i] = gate[i0 + i] / (1.0f + e[i]) * up[i0 + i];
  }
}

// One matmul input (ntok rows of n floats), quantized lazily once per activation format and
// then shared by every weight that reads it (Q, K and V; gate and up).
struct ActInput {
  const float* x = nullptr;  // (ntok, n)
  int64_t ntok = 0, n = 0;
  bool ready[3] = {false, false, false};
  std::vector<uint8_t>* bufs = nullptr;  // 3 buffers, one per ActFormat
};

}  // namespace

struct Context::Impl {
  const Model::Impl& m;
  const HParams& hp;
  ThreadPool& pool;
  int64_t n_ctx = 0;
  int64_t n_past = 0;
  int64_t max_batch = 0;
  int64_t n_q = 0, n_kv = 0, group = 1;
  const TypeKernels* f16 = nullptr;  // gemm over the F16 KV cache

  // KV cache, F16 bits.
  // Left uninitialized: attention only reads positions already written, and untouched pages of
  // a large context cost no memory until used.
  std::unique_ptr<uint16_t[]> k_cache;  // (n_layer, n_ctx, Hkv * hd): one row per position
  std::unique_ptr<uint16_t[]> v_cache;  // (n_layer, Hkv, hd, n_ctx): transposed, so attention's weighted sum is a gemm

  // Scratch, allocated once (B = max_batch rows).
  std::vector<float> x;      // (B, D) residual stream
  std::vector<float> xb;     // (B, D) normed input of a sublayer
  std::vector<float> xb2;    // (B, D) sublayer output
  std::vector<float> q;      // (B, Hq * hd)
  std::vector<float> k;      // (B, Hkv * hd)
  std::vector<float> v;      // (B, Hkv * hd)
  std::vector<float> att;    // (B, Hq * hd) attention output
  std::vector<float> hb;     // (B, F) gate, then silu(gate) * up
  std::vector<float> hb2;    // (B, F) up
  std::vector<float> rope_cs;  // (B, rope_dim / 2, 2): cos, sin per position and pair
  std::vector<uint8_t> act_bufs[3];  // quantized activations, one buffer per ActFormat
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

  Impl(const Model& model, int64_t n_ctx_req);
  void quantize_input(ActInput& in, const TypeKernels* k);
  struct MatJob {
    const MatWeight* w;
    float* y;
    size_t y_stride;
  };
  void matmuls(ActInput& in, const MatJob* jobs, int n_jobs);
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
  void rope(float* vec, int64_t n_heads, const float* cs) const;
  // Rows [row0, row0 + n) of a forward batch: tokens of the sequence `ctx` at positions
  // p0 .. p0 + n - 1. A batch is one segment (decode) or one single-row segment per sequence
  // (decode_batch); either way the weights are read once for all its rows.
  struct Segment {
    Impl* ctx;
    int64_t row0, n, p0;
  };
  void attention(int64_t layer, const Segment* segs, int64_t n_segs, int64_t r0);
  // What forward writes: nothing (KV rows only), logits of the last row or of every row, or
  // every row's final hidden state (after the output norm, before the output matrix).
  enum class Output { None, LastLogits, AllLogits, AllHidden };
  // Runs B rows through this context's scratch (each segment's own KV cache); false if
  // *cancel became true (checked between layers; no n_past is changed either way).
  bool forward(const int32_t* tokens, int64_t B, const Segment* segs, int64_t n_segs, Output what, float* out,
               const std::atomic<bool>* cancel);
  void decode_rows(const int32_t* tokens, int64_t n, Output what, std::vector<float>& out,
                   const std::atomic<bool>* cancel);
};

Context::Impl::Impl(const Model& model, int64_t n_ctx_req)
    : m(*model.impl()), hp(model.hparams()), pool(*model.impl()->pool) {
  n_ctx = n_ctx_req;
  if (n_ctx == 0) n_ctx = std::min<int64_t>(hp.n_ctx_train > 0 ? hp.n_ctx_train : 4096, 4096);
  max_batch = std::min(kMaxBatch, n_ctx);
  n_q = hp.n_head * hp.head_dim;
  n_kv = hp.n_head_kv * hp.head_dim;
  group = hp.n_head / hp.n_head_kv;
  f16 = kernels_for(GgmlType::F16);
  if (!f16 || f16->act != ActFormat::F32)
    fail("UNSUPPORTED_TENSOR_TYPE", "This build lacks the F16 kernels the KV cache needs");

  const size_t L = static_cast<size_t>(hp.n_layer);
  if (static_cast<double>(L) * static_cast<double>(n_ctx) * static_cast<double>(n_kv) > 1e15)
    throw std::bad_alloc();  // reported as OUT_OF_MEMORY by Context::Context (and avoids overflow below)
  const size_t kv_elems = L * static_cast<size_t>(n_ctx) * static_cast<size_t>(n_kv);
  k_cache.reset(new uint16_t[kv_elems]);
  v_cache.reset(new uint16_t[kv_elems]);

  const size_t B = static_cast<size_t>(max_batch);
  x.resize(B * hp.n_embd);
  xb.resize(B * hp.n_embd);
  xb2.resize(B * hp.n_embd);
  q.resize(B * n_q);
  k.resize(B * n_kv);
  v.resize(B * n_kv);
  att.resize(B * n_q);
  hb.resize(B * hp.n_ff);
  hb2.resize(B * hp.n_ff);
  rope_cs.resize(B * static_cast<size_t>(hp.rope_dim));

  // Activation buffers: the largest input row any weight reads, per format.
  size_t need[3] = {0, 0, 0};
  auto note = [&](const MatWeight& w) {
    const int f = static_cast<int>(w.kernels->act);
    need[f] = std::max(need[f], act_row_bytes(w.kernels->act, w.n) * B);
  };
  for (const LayerWeights& lw : m.layers)
    for (const MatWeight* w : {&lw.wq, &lw.wk, &lw.wv, &lw.wo, &lw.w_gate, &lw.w_up, &lw.w_down}) note(*w);
  note(m.output);
  for (int f = 1; f < 3; f++) act_bufs[f].resize(need[f]);  // F32 inputs are read in place

  const size_t tb = static_cast<size_t>(kAttnTokensPerTask);
  const size_t hd = static_cast<size_t>(hp.head_dim);
  attn_scratch_per_thread = static_cast<size_t>(group) * tb * (hd + kAttnChunk + hd + (2 + hd) + 2);
  attn_scratch.reset(new float[attn_scratch_per_thread * static_cast<size_t>(pool.size())]);
  n_chunks = (n_ctx + kAttnChunk - 1) / kAttnChunk;
  attn_partials.reset(new float[static_cast<size_t>(hp.n_head) * static_cast<size_t>(n_chunks) * (2 + hd)]);
  seg_first_task.resize(B + 1);
  seg_first_merge.resize(B + 1);
}

// in.x (ntok, n) -> quantized rows in k's activation format (once per format per input).
void Context::Impl::quantize_input(ActInput& in, const TypeKernels* kern) {
  const int f = static_cast<int>(kern->act);
  if (kern->act == ActFormat::F32 || in.ready[f]) return;
  const size_t row = act_row_bytes(kern->act, in.n);
  uint8_t* dst = in.bufs[f].data();
  run_tasks(in.ntok, 4.0 * static_cast<double>(in.ntok * in.n),  // ~4 operations per element
            [&](int64_t t, int) { kern->quantize_act(in.x + t * in.n, dst + t * row, in.n); });
  in.ready[f] = true;
}

// For each job: W (rows, n) @ in (ntok, n)^T -> y (ntok, rows), y rows y_stride floats apart.
// All jobs' row chunks go to the pool as one batch of tasks (one wake-up for Q, K and V).
void Context::Impl::matmuls(ActInput& in, const MatJob* jobs, int n_jobs) {
  int64_t first_task[4] = {0, 0, 0, 0};
  int64_t rows_per_task[3] = {kRowsPerTask, kRowsPerTask, kRowsPerTask};
  double work = 0;
  for (int j = 0; j < n_jobs; j++) {
    quantize_input(in, jobs[j].w->kernels);
    rows_per_task[j] = task_rows(jobs[j].w->rows);
    first_task[j + 1] = first_task[j] + (jobs[j].w->rows + rows_per_task[j] - 1) / rows_per_task[j];
    work += static_cast<double>(jobs[j].w->rows) * static_cast<double>(jobs[j].w->n) * static_cast<double>(in.ntok);
  }
  run_tasks(first_task[n_jobs], work, [&](int64_t task, int) {
    int j = 0;
    while (task >= first_task[j + 1]) j++;
    const MatWeight& w = *jobs[j].w;
    const int64_t r0 = (task - first_task[j]) * rows_per_task[j];
    const int64_t nr = std::min(rows_per_task[j], w.rows - r0);
    const TypeKernels* kern = w.kernels;
    const void* xq;
    size_t x_stride;
    if (kern->act == ActFormat::F32) {
      xq = in.x;
      x_stride = static_cast<size_t>(in.n) * sizeof(float);
    } else {
      xq = in.bufs[static_cast<int>(kern->act)].data();
      x_stride = act_row_bytes(kern->act, in.n);
    }
    if (w.packed)  // r0 and nr are multiples of 8 (task rows are, and so are packed matrices' rows)
      kern->gemm_x8(w.n, w.data + static_cast<size_t>(r0 / 8) * w.group_bytes, w.group_bytes, nr, xq, x_stride,
                    in.ntok, jobs[j].y + r0, jobs[j].y_stride);
    else
      kern->gemm(w.n, w.data + static_cast<size_t>(r0) * w.row_bytes, w.row_bytes, nr, xq, x_stride, in.ntok,
                 jobs[j].y + r0, jobs[j].y_stride);
  });
}

// vec (n_heads, hd) rotated in place by the angles cs (rope_dim / 2, 2) of its position:
// llama pairs (2i, 2i+1); NEOX (qwen2) pairs (i, i + rope_dim/2). Dimensions >= rope_dim stay.
void Context::Impl::rope(float* vec, int64_t n_heads, const float* cs) const {
  const int64_t hd = hp.head_dim, half = hp.rope_dim / 2;
  for (int64_t h = 0; h < n_heads; h++) {
    float* x = vec + h * hd;
    for (int64_t i = 0; i < half; i++) {
      const float c = cs[2 * i], s = cs[2 * i + 1];
      const int64_t a = hp.rope_neox ? i : 2 * i;
      const int64_t b = hp.rope_neox ? i + half : 2 * i + 1;
      const float x0 = x[a], x1 = x[b];
      x[a] = x0 * c - x1 * s;
      x[b] = x0 * s + x1 * c;
    }
  }
}

// Causal attention of batch rows r0..B-1 over their sequences' caches (every row sees its own
// position and everything before it, already stored): q (B, Hq*hd) -> att rows r0..B-1 of
// (B, Hq*hd). Positions are reduced in chunks of P = kAttnChunk; per chunk and query row
//   S = q K[chunk]^T * 1/sqrt(hd)   (F16 gemm over cached rows; masked past the row's position)
//   m = max S, e = exp(S - m), s = sum e, o = e V[chunk]   (F16 gemm over Vt rows)
// and the row's output is fold(chunk states in chunk order) -> o / s. Tasks:
//  - a segment with one row to compute (decode): one task per (KV head, chunk) storing chunk
//    states in its context's attn_partials, then one merge task per KV head (if > 1 chunk), so
//    a long context keeps every thread busy;
//  - otherwise (prefill): one task per (KV head, block of Tb rows), folding chunks as it goes.
// Either way the arithmetic never depends on the thread count.
void Context::Impl::attention(int64_t layer, const Segment* segs, int64_t n_segs, int64_t r0) {
  const int64_t hd = hp.head_dim, G = group, Hkv = hp.n_head_kv, P = kAttnChunk;
  const int64_t tb = std::min(kAttnTokensPerTask, max_batch);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const size_t state = static_cast<size_t>(2 + hd);
  // A segment's rows before r0 need no output.
  auto first_row = [&](const Segment& sg) { return std::max(sg.row0, std::min(r0, sg.row0 + sg.n)); };
  auto rows = [&](const Segment& sg) { return sg.row0 + sg.n - first_row(sg); };
  auto chunks = [&](int64_t n_vis) { return (n_vis + P - 1) / P; };
  auto n_tasks = [&](const Segment& sg) {  // split: (head, chunk); else (head, block)
    const int64_t nr = rows(sg);
    return nr == 1 ? Hkv * chunks(sg.p0 + sg.n) : Hkv * ((nr + tb - 1) / tb);
  };
  seg_first_task[0] = seg_first_merge[0] = 0;
  double work = 0;  // ~ (query rows) * (visible positions) * hd * 2 for K and V, * G query heads
  for (int64_t si = 0; si < n_segs; si++) {
    const Segment& sg = segs[si];
    work += static_cast<double>(rows(sg)) * static_cast<double>(sg.p0 + sg.n) * static_cast<double>(2 * hd * hp.n_head);
    seg_first_task[si + 1] = seg_first_task[si] + n_tasks(sg);
    const bool merged = rows(sg) == 1 && chunks(sg.p0 + sg.n) > 1;
    seg_first_merge[si + 1] = seg_first_merge[si] + (merged ? Hkv : 0);
  }
  auto segment_of = [&](const std::vector<int64_t>& first, int64_t task) {
    return std::upper_bound(first.begin(), first.begin() + n_segs + 1, task) - first.begin() - 1;
  };
  // Qblk (G, nt, hd) <- q rows t0.. of KV head h's query heads, head-major
  auto gather_q = [&](float* qblk, int64_t h, int64_t t0, int64_t nt) {
    for (int64_t g = 0; g < G; g++)
      for (int64_t t = 0; t < nt; t++)
        std::memcpy(qblk + (g * nt + t) * hd, q.data() + (t0 + t) * n_q + (h * G + g) * hd, sizeof(float) * hd);
  };

  run_tasks(seg_first_task[n_segs], work, [&](int64_t task, int thread) {
    const int64_t si = segment_of(seg_first_task, task);
    const Segment& sg = segs[si];
    Impl& c = *sg.ctx;  // whose cache, scratch and partials
    const uint16_t* k_layer = c.k_cache.get() + static_cast<size_t>(layer) * c.n_ctx * n_kv;
    const uint16_t* v_layer = c.v_cache.get() + static_cast<size_t>(layer) * n_kv * c.n_ctx;
    const size_t v_stride = sizeof(uint16_t) * static_cast<size_t>(c.n_ctx);
    const int64_t Tb = kAttnTokensPerTask;  // the scratch layout's (see attn_scratch)
    float* qblk = c.attn_scratch.get() + c.attn_scratch_per_thread * static_cast<size_t>(thread);  // (G*nt, hd)
    float* S = qblk + G * Tb * hd;    // (G*nt, len) scores, then weights
    float* O = S + G * Tb * P;        // (G*nt, hd) chunk outputs
    float* run = O + G * Tb * hd;     // (G*nt, 2 + hd) running states
    float* ms = run + G * Tb * state; // (G*nt, 2) chunk max and sum
    const int64_t local = task - seg_first_task[si];

    if (rows(sg) == 1) {
      // One query row at position pos: chunk ci of KV head h, for its G query heads.
      const int64_t t0 = sg.row0 + sg.n - 1, pos = sg.p0 + sg.n - 1, C = chunks(pos + 1);
      const int64_t h = local / C, ci = local % C;
      const int64_t c0 = ci * P, len = std::min(P, pos + 1 - c0);
      gather_q(qblk, h, t0, 1);
      // S (G, len) = Qblk (G, hd) @ K[c0 .. c0+len)^T, K rows n_kv halves apart
      f16->gemm(hd, k_layer + c0 * n_kv + h * hd, sizeof(uint16_t) * n_kv, len, qblk, sizeof(float) * hd, G, S,
                static_cast<size_t>(len));
      for (int64_t g = 0; g < G; g++) ms[2 * g] = exp_shifted(S + g * len, len, scale, &ms[2 * g + 1]);
      // o (G, hd) = S (G, len) @ V[chunk] (len, hd), i.e. Vt rows (hd, len) @ S^T: straight into
      // att when this is the only chunk (then o / s, finish() of one state), else into the
      // chunk states for the merge.
      const uint16_t* vt = v_layer + static_cast<size_t>(h * hd) * c.n_ctx + c0;
      if (C == 1) {
        float* att_row = att.data() + t0 * n_q + h * G * hd;
        f16->gemm(len, vt, v_stride, hd, S, sizeof(float) * len, G, att_row, static_cast<size_t>(hd));
        for (int64_t g = 0; g < G; g++) {
          const float inv = 1.0f / ms[2 * g + 1];
          for (int64_t i = 0; i < hd; i++) att_row[g * hd + i] *= inv;
        }
      } else {
        const size_t head_stride = static_cast<size_t>(c.n_chunks) * state;  // next query head's states
        float* part = c.attn_partials.get() + static_cast<size_t>(h * G) * head_stride + static_cast<size_t>(ci) * state;
        f16->gemm(len, vt, v_stride, hd, S, sizeof(float) * len, G, part + 2, head_stride);
        for (int64_t g = 0; g < G; g++) {
          part[g * head_stride] = ms[2 * g];
          part[g * head_stride + 1] = ms[2 * g + 1];
        }
      }
      return;
    }

    // A block of nt query rows from batch row t0 (positions pos0..), all chunks in order.
    const int64_t nb = (rows(sg) + tb - 1) / tb;
    const int64_t h = local / nb;
    const int64_t t0 = first_row(sg) + (local % nb) * tb;
    const int64_t nt = std::min(tb, sg.row0 + sg.n - t0);
    const int64_t pos0 = sg.p0 + (t0 - sg.row0);
    const int64_t n_vis = pos0 + nt;  // positions the block's last row sees
    gather_q(qblk, h, t0, nt);
    for (int64_t ci = 0; ci < chunks(n_vis); ci++) {
      const int64_t c0 = ci * P, len = std::min(P, n_vis - c0);
      // S (G*nt, len) = Qblk @ K[c0 .. c0+len)^T
      f16->gemm(hd, k_layer + c0 * n_kv + h * hd, sizeof(uint16_t) * n_kv, len, qblk, sizeof(float) * hd, G * nt, S,
                static_cast<size_t>(len));
      for (int64_t g = 0; g < G; g++)
        for (int64_t t = 0; t < nt; t++) {
          float* row = S + (g * nt + t) * len;
          const int64_t visible = std::min(len, pos0 + t + 1 - c0);  // causal; <= 0: none in this chunk
          if (visible > 0) ms[2 * (g * nt + t)] = exp_shifted(row, visible, scale, &ms[2 * (g * nt + t) + 1]);
          std::fill(row + std::max<int64_t>(visible, 0), row + len, 0.0f);
        }
      // O (nt, hd) per query head = S_g (nt, len) @ V[chunk] (len, hd)
      const uint16_t* vt = v_layer + static_cast<size_t>(h * hd) * c.n_ctx + c0;
      for (int64_t g = 0; g < G; g++)
        f16->gemm(len, vt, v_stride, hd, S + g * nt * len, sizeof(float) * len, nt, O + g * nt * hd,
                  static_cast<size_t>(hd));
      for (int64_t r = 0; r < G * nt; r++) {
        const int64_t t = r % nt;
        if (pos0 + t + 1 - c0 > 0) fold(run + r * state, ms[2 * r], ms[2 * r + 1], O + r * hd, hd, ci == 0);
      }
    }
    for (int64_t g = 0; g < G; g++)
      for (int64_t t = 0; t < nt; t++)
        finish(att.data() + (t0 + t) * n_q + (h * G + g) * hd, run + (g * nt + t) * state, hd);
  });

  // Single rows split over several chunks: att row = fold(chunk states in order) -> o / s.
  if (seg_first_merge[n_segs] == 0) return;
  run_tasks(seg_first_merge[n_segs], work / kAttnChunk, [&](int64_t task, int thread) {
    const int64_t si = segment_of(seg_first_merge, task);
    const Segment& sg = segs[si];
    Impl& c = *sg.ctx;
    const int64_t h = task - seg_first_merge[si];
    const int64_t t0 = sg.row0 + sg.n - 1, C = chunks(sg.p0 + sg.n);
    float* st = c.attn_scratch.get() + c.attn_scratch_per_thread * static_cast<size_t>(thread);  // (2 + hd)
    const size_t head_stride = static_cast<size_t>(c.n_chunks) * state;
    for (int64_t g = 0; g < G; g++) {
      const float* part = c.attn_partials.get() + static_cast<size_t>(h * G + g) * head_stride;
      for (int64_t ci = 0; ci < C; ci++) {
        const float* p = part + static_cast<size_t>(ci) * state;
        fold(st, p[0], p[1], p + 2, hd, ci == 0);
      }
      finish(att.data() + t0 * n_q + (h * G + g) * hd, st, hd);
    }
  });
}

// tokens (B,) -> each segment's KV cache rows at its positions, and per `what`: out = logits
// (1 or B, V) or hidden states (B, D).
bool Context::Impl::forward(const int32_t* tokens, int64_t B, const Segment* segs, int64_t n_segs, Output what,
                            float* out, const std::atomic<bool>* cancel) {
  const int64_t D = hp.n_embd, F = hp.n_ff, half = hp.rope_dim / 2;

  // x (B, D) <- token embeddings
  for (int64_t t = 0; t < B; t++)
    m.tok_embd.kernels->dequantize_row(m.tok_embd.data + static_cast<size_t>(tokens[t]) * m.tok_embd.row_bytes,
                                       x.data() + t * D, D);

  // rope_cs (B, half, 2): theta_i = pos * freq_scale * base^(-2i/rope_dim) / freq_factor_i,
  // built by repeated multiplication in float as llama.cpp does (so angles round the same way).
  const float theta_scale = std::pow(hp.rope_freq_base, -2.0f / static_cast<float>(hp.rope_dim));
  for (int64_t si = 0; si < n_segs; si++)
    for (int64_t t = segs[si].row0; t < segs[si].row0 + segs[si].n; t++) {
      float theta = static_cast<float>(segs[si].p0 + (t - segs[si].row0));
      float* cs = rope_cs.data() + t * 2 * half;
      for (int64_t i = 0; i < half; i++) {
        const float ff = m.rope_freqs.data ? m.rope_freqs.data[i] : 1.0f;
        const float angle = hp.rope_freq_scale * (theta / ff);
        cs[2 * i] = std::cos(angle);
        cs[2 * i + 1] = std::sin(angle);
        theta *= theta_scale;
      }
    }

  ActInput in;
  in.bufs = act_bufs;
  // Matmul input: rows first..B-1 of src (rows of n floats).
  auto set_input = [&](const float* src, int64_t first, int64_t n) {
    in.x = src + first * n;
    in.ntok = B - first;
    in.n = n;
    in.ready[0] = in.ready[1] = in.ready[2] = false;
  };
  // Rows whose values matter after the last layer: all, the last one, or none (their K/V rows
  // are all the cache needs). Layers before the last always compute every row.
  const int64_t out_first = what == Output::None ? B : what == Output::LastLogits ? B - 1 : 0;

  for (int64_t il = 0; il < hp.n_layer; il++) {
    if (cancel && cancel->load(std::memory_order_relaxed)) return false;
    const LayerWeights& L = m.layers[static_cast<size_t>(il)];

    // xb (B, D) = rmsnorm(x) * attn_norm
    for (int64_t t = 0; t < B; t++) rmsnorm(xb.data() + t * D, x.data() + t * D, L.attn_norm.data, D, hp.rms_eps);

    // q (B, Hq*hd), k (B, Hkv*hd), v (B, Hkv*hd) = xb @ Wq^T, Wk^T, Wv^T   (one quantization of xb)
    set_input(xb.data(), 0, D);
    const MatJob qkv[3] = {{&L.wq, q.data(), static_cast<size_t>(n_q)},
                           {&L.wk, k.data(), static_cast<size_t>(n_kv)},
                           {&L.wv, v.data(), static_cast<size_t>(n_kv)}};
    matmuls(in, qkv, 3);
    if (L.bq.data) {  // qwen2 biases
      for (int64_t t = 0; t < B; t++) {
        for (int64_t i = 0; i < n_q; i++) q[t * n_q + i] += L.bq.data[i];
        for (int64_t i = 0; i < n_kv; i++) k[t * n_kv + i] += L.bk.data[i];
        for (int64_t i = 0; i < n_kv; i++) v[t * n_kv + i] += L.bv.data[i];
      }
    }

    // rope on q (B, Hq, hd) and k (B, Hkv, hd), per token position
    for (int64_t t = 0; t < B; t++) {
      const float* cs = rope_cs.data() + t * 2 * half;
      rope(q.data() + t * n_q, hp.n_head, cs);
      rope(k.data() + t * n_kv, hp.n_head_kv, cs);
    }

    // KV caches <- k, v rows at their positions (F16; V transposed to (Hkv, hd, n_ctx))
    for (int64_t si = 0; si < n_segs; si++) {
      const Impl& c = *segs[si].ctx;
      uint16_t* k_layer = c.k_cache.get() + static_cast<size_t>(il) * c.n_ctx * n_kv;
      uint16_t* v_layer = c.v_cache.get() + static_cast<size_t>(il) * n_kv * c.n_ctx;
      for (int64_t j = 0; j < segs[si].n; j++) {
        const int64_t t = segs[si].row0 + j, pos = segs[si].p0 + j;
        uint16_t* krow = k_layer + pos * n_kv;
        for (int64_t i = 0; i < n_kv; i++) krow[i] = f32_to_fp16(k[t * n_kv + i]);
        for (int64_t i = 0; i < n_kv; i++) v_layer[i * c.n_ctx + pos] = f32_to_fp16(v[t * n_kv + i]);
      }
    }

    // From here on only rows r0..B-1 are needed (all of them except in the last layer).
    const int64_t r0 = il == hp.n_layer - 1 ? out_first : 0;
    if (r0 == B) break;
    const int64_t R = B - r0;

    // att (R, Hq*hd) = causal softmax(q k^T / sqrt(hd)) v over each row's cache
    attention(il, segs, n_segs, r0);

    // x (R, D) += att @ Wo^T
    set_input(att.data(), r0, n_q);
    const MatJob wo[1] = {{&L.wo, xb2.data() + r0 * D, static_cast<size_t>(D)}};
    matmuls(in, wo, 1);
    for (int64_t i = r0 * D; i < B * D; i++) x[i] += xb2[i];

    // xb (R, D) = rmsnorm(x) * ffn_norm
    for (int64_t t = r0; t < B; t++) rmsnorm(xb.data() + t * D, x.data() + t * D, L.ffn_norm.data, D, hp.rms_eps);

    // hb (R, F) = xb @ Wgate^T, hb2 (R, F) = xb @ Wup^T   (one quantization of xb)
    set_input(xb.data(), r0, D);
    const MatJob gate_up[2] = {{&L.w_gate, hb.data(), static_cast<size_t>(F)},
                               {&L.w_up, hb2.data(), static_cast<size_t>(F)}};
    matmuls(in, gate_up, 2);
    // hb (R, F) = silu(hb) * hb2   (SwiGLU)
    swiglu(hb.data(), hb2.data(), R * F);

    // x (R, D) += hb @ Wdown^T
    in.x = hb.data();  // hb rows are packed from 0
    in.ntok = R;
    in.n = F;
    in.ready[0] = in.ready[1] = in.ready[2] = false;
    const MatJob down[1] = {{&L.w_down, xb2.data() + r0 * D, static_cast<size_t>(D)}};
    matmuls(in, down, 1);
    for (int64_t i = r0 * D; i < B * D; i++) x[i] += xb2[i];
  }

  if (what == Output::None) return true;
  // xb (R, D) = rmsnorm(x rows) * output_norm, R = B or just the last token; hidden states go
  // straight to out (B, D).
  const int64_t R = B - out_first;
  float* normed = what == Output::AllHidden ? out : xb.data();
  for (int64_t r = 0; r < R; r++)
    rmsnorm(normed + r * D, x.data() + (out_first + r) * D, m.output_norm.data, D, hp.rms_eps);
  if (what == Output::AllHidden) return true;
  // logits (R, V) = xb @ output^T
  in.x = xb.data();
  in.ntok = R;
  in.n = D;
  in.ready[0] = in.ready[1] = in.ready[2] = false;
  const MatJob head[1] = {{&m.output, out, static_cast<size_t>(hp.n_vocab)}};
  matmuls(in, head, 1);
  return true;
}

Context::Context(const Model& model, int64_t n_ctx) {
  if (model.vocab_only())
    fail("INVALID_ARGUMENT", "Expected a model loaded with weights but received a vocabulary-only model");
  if (n_ctx < 0 || n_ctx > (int64_t(1) << 24))
    fail("INVALID_ARGUMENT", "Expected a context size between 0 and 16777216 but received " + std::to_string(n_ctx));
  try {
    impl_.reset(new Impl(model, n_ctx));
  } catch (const std::bad_alloc&) {
    const HParams& hp = model.hparams();
    const int64_t n = n_ctx ? n_ctx : std::min<int64_t>(hp.n_ctx_train > 0 ? hp.n_ctx_train : 4096, 4096);
    const double kv_mib = 4.0 * hp.n_layer * n * hp.n_head_kv * hp.head_dim / (1024.0 * 1024.0);
    fail("OUT_OF_MEMORY", "Cannot allocate a context of " + std::to_string(n) + " tokens (KV cache " +
                              std::to_string(static_cast<int64_t>(kv_mib)) + " MiB); use a smaller context size");
  }
}

Context::~Context() = default;

int64_t Context::n_ctx() const { return impl_->n_ctx; }
int64_t Context::n_past() const { return impl_->n_past; }

void Context::truncate(int64_t n) {
  if (n < 0 || n > impl_->n_past)
    fail("INVALID_ARGUMENT", "Expected a position between 0 and " + std::to_string(impl_->n_past) +
                                 " to truncate at but received " + std::to_string(n));
  impl_->n_past = n;  // later rows are overwritten by the next decode; nothing to clear
}

void Context::decode(const int32_t* tokens, int64_t n, bool all_logits, std::vector<float>& logits,
                     const std::atomic<bool>* cancel) {
  impl_->decode_rows(tokens, n, all_logits ? Impl::Output::AllLogits : Impl::Output::LastLogits, logits, cancel);
}

void Context::decode_hidden(const int32_t* tokens, int64_t n, std::vector<float>& hidden,
                            const std::atomic<bool>* cancel) {
  impl_->decode_rows(tokens, n, Impl::Output::AllHidden, hidden, cancel);
}

// decode()'s checks, then the tokens in chunks of max_batch; `out` gets what's rows (one row
// for LastLogits).
void Context::Impl::decode_rows(const int32_t* tokens, int64_t n, Output what, std::vector<float>& out,
                                const std::atomic<bool>* cancel) {
  Impl& c = *this;
  const int64_t V = c.hp.n_vocab;
  if (n <= 0) fail("INVALID_ARGUMENT", "Expected at least one token to decode but received " + std::to_string(n));
  if (c.n_past + n > c.n_ctx)
    fail("CONTEXT_FULL", "Expected at most " + std::to_string(c.n_ctx - c.n_past) + " more tokens (context size " +
                             std::to_string(c.n_ctx) + ", " + std::to_string(c.n_past) + " in use) but received " +
                             std::to_string(n));
  for (int64_t i = 0; i < n; i++)
    if (tokens[i] < 0 || tokens[i] >= V)
      fail("TOKEN_OUT_OF_RANGE", "Expected token ids in [0, " + std::to_string(V) + ") but received " +
                                     std::to_string(tokens[i]) + " at index " + std::to_string(i));

  const int64_t row = what == Output::AllHidden ? c.hp.n_embd : V;
  out.resize(static_cast<size_t>(what == Output::LastLogits ? row : n * row));
  const int64_t start = c.n_past;
  for (int64_t done = 0; done < n;) {
    const int64_t B = std::min(c.max_batch, n - done);
    const bool last_chunk = done + B == n;
    const Output chunk_what = what != Output::LastLogits || last_chunk ? what : Output::None;
    float* dst = what == Output::LastLogits ? out.data() : out.data() + done * row;
    const Segment seg = {&c, 0, B, c.n_past};
    if (!c.forward(tokens + done, B, &seg, 1, chunk_what, dst, cancel)) {
      c.n_past = start;
      fail("ABORTED", "Decoding was cancelled");
    }
    c.n_past += B;
    done += B;
  }
}


void Context::decode_batch(Context* const* contexts, const int32_t* tokens, int64_t n_seqs,
                           std::vector<float>& logits, const std::atomic<bool>* cancel) {
  if (n_seqs <= 0 || !contexts || !tokens)
    fail("INVALID_ARGUMENT", "Expected at least one sequence to decode but received " + std::to_string(n_seqs));
  for (int64_t i = 0; i < n_seqs; i++)
    if (!contexts[i]) fail("INVALID_ARGUMENT", "Expected a context for sequence " + std::to_string(i) + " but received null");
  Impl& lead = *contexts[0]->impl_;  // its scratch holds the batch
  const int64_t V = lead.hp.n_vocab;
  for (int64_t i = 0; i < n_seqs; i++) {
    const Impl& c = *contexts[i]->impl_;
    if (&c.m != &lead.m)
      fail("INVALID_ARGUMENT", "Expected contexts of one model but sequence " + std::to_string(i) +
                                   " belongs to another model");
    for (int64_t j = 0; j < i; j++)
      if (contexts[j] == contexts[i])
        fail("INVALID_ARGUMENT", "Expected distinct contexts but sequences " + std::to_string(j) + " and " +
                                     std::to_string(i) + " are the same context");
    if (c.n_past + 1 > c.n_ctx)
      fail("CONTEXT_FULL", "Expected room for one more token in sequence " + std::to_string(i) + " (context size " +
                               std::to_string(c.n_ctx) + ", " + std::to_string(c.n_past) + " in use) but it is full");
    if (tokens[i] < 0 || tokens[i] >= V)
      fail("TOKEN_OUT_OF_RANGE", "Expected token ids in [0, " + std::to_string(V) + ") but received " +
                                     std::to_string(tokens[i]) + " for sequence " + std::to_string(i));
  }

  logits.resize(static_cast<size_t>(n_seqs * V));
  // Chunks of the lead's batch capacity; each sequence is one single-row segment.
  Impl::Segment segs[kMaxBatch];
  for (int64_t done = 0; done < n_seqs;) {
    const int64_t B = std::min(lead.max_batch, n_seqs - done);
    for (int64_t r = 0; r < B; r++) {
      Impl* c = contexts[done + r]->impl_.get();
      segs[r] = {c, r, 1, c->n_past};
    }
    if (!lead.forward(tokens + done, B, segs, B, Impl::Output::AllLogits, logits.data() + done * V, cancel)) {
      for (int64_t i = 0; i < done; i++) contexts[i]->impl_->n_past--;  // all or nothing
      fail("ABORTED", "Decoding was cancelled");
    }
    for (int64_t r = 0; r < B; r++) segs[r].ctx->n_past++;
    done += B;
  }
}

// ---------------------------------------------------------------------------------------------
// Session files. Layout (little-endian as written by this machine; every size explicit):
//   u32 magic length, magic bytes, u32 version (kStateVersion)
//   model: u64 fingerprint, u64 file size, u32 arch length, arch bytes,
//          i64 n_layer, n_embd, n_head_kv, head_dim, n_vocab, u32 KV type (kStateKvF16)
//   i64 n_past, i32 tokens[n_past]
//   per layer: K (n_past, Hkv*hd) F16 rows, then V (Hkv*hd, n_past) F16 rows (the cache's layouts)
//   u64 checksum: hash_bytes chained over every piece above, in order
// Nothing may follow the checksum.

namespace {

constexpr uint32_t kStateVersion = 1;
constexpr uint32_t kStateKvF16 = 1;
constexpr size_t kMaxMagic = 256;

void check_magic(const std::string& magic) {
  if (magic.empty() || magic.size() > kMaxMagic)
    fail("INVALID_ARGUMENT", "Expected a state file magic of 1 to " + std::to_string(kMaxMagic) +
                                 " bytes but received " + std::to_string(magic.size()));
}

// Writes to a temporary file beside `path`, renamed over it by commit(); the destructor removes
// the temporary file if commit() was never reached (error or exception), so `path` never holds
// a partial file.
class StateWriter {
 public:
  explicit StateWriter(const std::string& path) : path_(path) {
    static std::atomic<unsigned> counter{0};
    temp_ = path + ".tmp-" + std::to_string(static_cast<long long>(HB_GETPID())) + "-" +
            std::to_string(counter.fetch_add(1));
    file_ = std::fopen(temp_.c_str(), "wb");
    if (!file_) fail_io("create", errno);
    std::setvbuf(file_, nullptr, _IOFBF, size_t(1) << 20);
  }
  ~StateWriter() {
    if (file_) std::fclose(file_);
    if (!committed_) std::remove(temp_.c_str());
  }
  void put(const void* data, size_t n) {
    if (n && std::fwrite(data, 1, n, file_) != n) fail_io("write", errno);
    sum_ = hash_bytes(data, n, sum_);
  }
  template <class T>
  void put_value(T v) { put(&v, sizeof(v)); }
  void commit() {
    const uint64_t sum = sum_;
    if (std::fwrite(&sum, 1, sizeof(sum), file_) != sizeof(sum)) fail_io("write", errno);
    if (std::fflush(file_) != 0) fail_io("write", errno);
#if defined(_WIN32)
    _commit(_fileno(file_));
#else
    fsync(fileno(file_));  // the rename below must not be able to outlive the data on a power loss
#endif
    std::FILE* f = file_;
    file_ = nullptr;
    if (std::fclose(f) != 0) fail_io("close", errno);
#if defined(_WIN32)
    std::remove(path_.c_str());  // rename() does not replace an existing file on Windows
#endif
    if (std::rename(temp_.c_str(), path_.c_str()) != 0) fail_io("rename", errno);
    committed_ = true;
  }

 private:
  [[noreturn]] void fail_io(const char* what, int err) {
    fail("FILE_WRITE_ERROR", std::string("Cannot ") + what + " the session file " + temp_ +
                                 (std::strcmp(what, "rename") == 0 ? " to " + path_ : std::string()) + ": " +
                                 std::strerror(err));
  }
  std::string path_, temp_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
  uint64_t sum_ = 0;
};

class StateReader {
 public:
  explicit StateReader(const std::string& path) : path_(path) {
    file_ = std::fopen(path.c_str(), "rb");
    if (!file_) {
      const int e = errno;
      if (e == ENOENT) fail("FILE_NOT_FOUND", "No such file: " + path);
      fail("FILE_READ_ERROR", "Cannot open " + path + ": " + std::strerror(e));
    }
    std::setvbuf(file_, nullptr, _IOFBF, size_t(1) << 20);
  }
  ~StateReader() { std::fclose(file_); }
  void get(void* data, size_t n, const char* what) {
    if (n && std::fread(data, 1, n, file_) != n) {
      if (std::ferror(file_)) fail("FILE_READ_ERROR", "Cannot read " + path_ + ": " + std::strerror(errno));
      bad(std::string("it ends early (truncated) in its ") + what);
    }
    sum_ = hash_bytes(data, n, sum_);
  }
  template <class T>
  T get_value(const char* what) {
    T v;
    get(&v, sizeof(v), what);
    return v;
  }
  // The stored checksum must match what was read, and nothing may follow it.
  void finish() {
    uint64_t stored;
    if (std::fread(&stored, 1, sizeof(stored), file_) != sizeof(stored)) bad("it ends early (truncated) before its checksum");
    if (stored != sum_) bad("its checksum does not match its contents (corrupt)");
    if (std::fgetc(file_) != EOF) bad("it has extra bytes after its end");
  }
  [[noreturn]] void bad(const std::string& why) {
    fail("STATE_BAD_FILE", "Expected a session state file but " + path_ + " is not a valid one: " + why);
  }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  uint64_t sum_ = 0;
};

std::string describe_model(const std::string& arch, int64_t n_layer, int64_t n_embd, int64_t n_head_kv,
                           int64_t head_dim, int64_t n_vocab) {
  return arch + " with " + std::to_string(n_layer) + " layers, " + std::to_string(n_embd) + " dims, " +
         std::to_string(n_head_kv) + " KV heads of " + std::to_string(head_dim) + ", " + std::to_string(n_vocab) +
         " tokens";
}

}  // namespace

void Context::save_state(const std::string& path, const std::string& magic, const std::vector<int32_t>& tokens) const {
  const Impl& c = *impl_;
  const HParams& hp = c.hp;
  check_magic(magic);
  if (static_cast<int64_t>(tokens.size()) != c.n_past)
    fail("INVALID_ARGUMENT", "Expected " + std::to_string(c.n_past) + " token ids (the tokens in the KV cache) but received " +
                                 std::to_string(tokens.size()));
  const int64_t P = c.n_past;
  StateWriter w(path);
  w.put_value(static_cast<uint32_t>(magic.size()));
  w.put(magic.data(), magic.size());
  w.put_value(kStateVersion);
  w.put_value(c.m.fingerprint);
  w.put_value(static_cast<uint64_t>(c.m.gguf->file_size()));
  w.put_value(static_cast<uint32_t>(hp.arch.size()));
  w.put(hp.arch.data(), hp.arch.size());
  for (int64_t v : {hp.n_layer, hp.n_embd, hp.n_head_kv, hp.head_dim, hp.n_vocab}) w.put_value(v);
  w.put_value(kStateKvF16);
  w.put_value(P);
  w.put(tokens.data(), tokens.size() * sizeof(int32_t));
  for (int64_t il = 0; il < hp.n_layer; il++) {
    const uint16_t* k_layer = c.k_cache.get() + static_cast<size_t>(il) * c.n_ctx * c.n_kv;
    const uint16_t* v_layer = c.v_cache.get() + static_cast<size_t>(il) * c.n_kv * c.n_ctx;
    w.put(k_layer, static_cast<size_t>(P * c.n_kv) * sizeof(uint16_t));  // rows 0..P-1 are contiguous
    for (int64_t i = 0; i < c.n_kv; i++) w.put(v_layer + i * c.n_ctx, static_cast<size_t>(P) * sizeof(uint16_t));
  }
  w.commit();
}

std::vector<int32_t> Context::load_state(const std::string& path, const std::string& magic) {
  Impl& c = *impl_;
  const HParams& hp = c.hp;
  check_magic(magic);
  c.n_past = 0;  // from here on a failure leaves the context empty; the cache rows are overwritten in place
  StateReader r(path);

  const uint32_t magic_len = r.get_value<uint32_t>("magic");
  if (magic_len != magic.size()) r.bad("it does not start with \"" + magic + "\"");
  std::string got_magic(magic_len, '\0');
  r.get(&got_magic[0], magic_len, "magic");
  if (got_magic != magic) r.bad("it does not start with \"" + magic + "\"");
  const uint32_t version = r.get_value<uint32_t>("version");
  if (version != kStateVersion)
    r.bad("its format version is " + std::to_string(version) + " (this build reads version " +
          std::to_string(kStateVersion) + ")");

  const uint64_t fingerprint = r.get_value<uint64_t>("model fingerprint");
  const uint64_t file_size = r.get_value<uint64_t>("model fingerprint");
  const uint32_t arch_len = r.get_value<uint32_t>("model fingerprint");
  if (arch_len > 64) r.bad("its architecture name is " + std::to_string(arch_len) + " bytes long");
  std::string arch(arch_len, '\0');
  r.get(&arch[0], arch_len, "model fingerprint");
  int64_t dims[5];
  for (int64_t& d : dims) d = r.get_value<int64_t>("model fingerprint");
  const uint32_t kv_type = r.get_value<uint32_t>("model fingerprint");
  if (kv_type != kStateKvF16) r.bad("its KV cache type " + std::to_string(kv_type) + " is unknown");
  const std::string mine = describe_model(hp.arch, hp.n_layer, hp.n_embd, hp.n_head_kv, hp.head_dim, hp.n_vocab);
  const std::string theirs = describe_model(arch, dims[0], dims[1], dims[2], dims[3], dims[4]);
  if (mine != theirs)
    fail("STATE_MODEL_MISMATCH", "Expected a session state saved with this model (" + mine + ") but " + path +
                                     " was saved with another one (" + theirs + ")");
  if (fingerprint != c.m.fingerprint || file_size != c.m.gguf->file_size())
    fail("STATE_MODEL_MISMATCH", "Expected a session state saved with this model file but " + path +
                                     " was saved with another file of the same shape (" + mine + ")");

  const int64_t P = r.get_value<int64_t>("token count");
  if (P < 0 || P > (int64_t(1) << 24)) r.bad("its token count " + std::to_string(P) + " is out of range");
  if (P > c.n_ctx)
    fail("CONTEXT_FULL", "Expected a session state of at most " + std::to_string(c.n_ctx) +
                             " tokens (this context's size) but " + path + " holds " + std::to_string(P));
  std::vector<int32_t> tokens(static_cast<size_t>(P));
  r.get(tokens.data(), tokens.size() * sizeof(int32_t), "token ids");
  for (int64_t i = 0; i < P; i++)
    if (tokens[i] < 0 || tokens[i] >= hp.n_vocab)
      r.bad("token " + std::to_string(i) + " has id " + std::to_string(tokens[i]) + ", outside [0, " +
            std::to_string(hp.n_vocab) + ")");
  for (int64_t il = 0; il < hp.n_layer; il++) {
    uint16_t* k_layer = c.k_cache.get() + static_cast<size_t>(il) * c.n_ctx * c.n_kv;
    uint16_t* v_layer = c.v_cache.get() + static_cast<size_t>(il) * c.n_kv * c.n_ctx;
    r.get(k_layer, static_cast<size_t>(P * c.n_kv) * sizeof(uint16_t), "KV cache");
    for (int64_t i = 0; i < c.n_kv; i++) r.get(v_layer + i * c.n_ctx, static_cast<size_t>(P) * sizeof(uint16_t), "KV cache");
  }
  r.finish();
  c.n_past = P;
  return tokens;
}

}  // namespace hb
