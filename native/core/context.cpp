// The forward pass over a bound Model, in the llama2.c style: every step says its shapes. A
// batch is the next tokens of one sequence (decode, decode_hidden) or one token of each of
// several sequences (decode_batch); either way every weight matrix is read once per batch.
// B = rows in the current batch (<= kMaxBatch), D = n_embd, Hq/Hkv = query/KV heads,
// hd = head_dim, G = Hq / Hkv (query heads per KV head), F = n_ff, V = n_vocab,
// E / K = experts / experts used per token, Fe = expert FFN width.
// What differs between architectures is read from HParams (arch.cpp): norms, activation, rope
// variant per layer, sliding windows, soft-caps, experts. The operations are in ops.*, the KV
// cache layout in kv_cache.*, session files in state_file.cpp.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <new>

#include "context_impl.h"
#include "error.h"
#include "ops.h"
#include "quant/fp16.h"

namespace hb {

Context::Impl::Impl(const Model& model, int64_t n_ctx_req, bool full_windows, int64_t rope_n_ctx)
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
  kv.reset(new KvCache(hp, n_ctx, max_batch, kAttnChunk, full_windows));

  // Per-pair rope divisors: the model's rope_freqs, else LongRoPE's long factors when this
  // context is longer than the original one (llama.cpp compares the size rounded up to 256).
  const int64_t padded = ((rope_n_ctx > 0 ? rope_n_ctx : n_ctx) + 255) / 256 * 256;
  for (const RopeConfig& rc : hp.ropes) {
    const float* f = nullptr;
    if (m.rope_freqs.data) f = m.rope_freqs.data;
    else if (m.rope_long.data || m.rope_short.data)
      f = padded > rc.n_ctx_orig ? m.rope_long.data : m.rope_short.data;
    rope_factors.push_back(f);
  }

  const size_t B = static_cast<size_t>(max_batch);
  const int64_t F = std::max(hp.n_ff, hp.n_ff_exp);
  x.resize(B * hp.n_embd);
  xb.resize(B * hp.n_embd);
  xb2.resize(B * hp.n_embd);
  q.resize(B * n_q);
  k.resize(B * n_kv);
  v.resize(B * n_kv);
  att.resize(B * n_q);
  hb.resize(B * F);
  hb2.resize(B * F);
  rope_cs.resize(hp.ropes.size() * B * static_cast<size_t>(hp.rope_dim));

  // Activation buffers: the largest input row any weight reads, per format.
  size_t need[3] = {0, 0, 0}, need_moe[3] = {0, 0, 0};
  const size_t BK = B * static_cast<size_t>(std::max<int64_t>(1, hp.n_expert_used));
  auto note = [&](const MatWeight& w, size_t* into, size_t rows) {
    if (!w.tensor) return;
    const int f = static_cast<int>(w.kernels->act);
    into[f] = std::max(into[f], act_row_bytes(w.kernels->act, w.n) * rows);
  };
  for (const LayerWeights& lw : m.layers) {
    for (const MatWeight* w : {&lw.wq, &lw.wk, &lw.wv, &lw.wo, &lw.w_gate, &lw.w_up, &lw.w_down, &lw.gate_inp})
      note(*w, need, B);
    for (const std::vector<MatWeight>* exps : {&lw.gate_exps, &lw.up_exps, &lw.down_exps})
      if (!exps->empty()) note(exps->front(), need_moe, BK);
  }
  note(m.output, need, B);
  for (int f = 1; f < 3; f++) {  // F32 inputs are read in place
    act_bufs[f].resize(need[f]);
    moe_act_bufs[f].resize(need_moe[f]);
  }
  if (hp.n_expert > 0) {
    const size_t E = static_cast<size_t>(hp.n_expert), K = static_cast<size_t>(hp.n_expert_used);
    moe_logits.resize(B * E);
    moe_probs.resize(E);
    moe_w.resize(B * K);
    moe_ids.resize(B * K);
    moe_slot.resize(B * K);
    // Left uninitialized (untouched pages cost nothing): only rows written in a batch are read.
    moe_x.reset(new float[BK * static_cast<size_t>(hp.n_embd)]);
    moe_o.reset(new float[BK * static_cast<size_t>(hp.n_embd)]);
    moe_g.reset(new float[BK * static_cast<size_t>(hp.n_ff_exp)]);
    moe_u.reset(new float[BK * static_cast<size_t>(hp.n_ff_exp)]);
  }

  const size_t tb = static_cast<size_t>(kAttnTokensPerTask);
  const size_t hd = static_cast<size_t>(hp.head_dim);
  attn_scratch_per_thread = static_cast<size_t>(group) * tb * (hd + kAttnChunk + hd + (2 + hd) + 2);
  attn_scratch.reset(new float[attn_scratch_per_thread * static_cast<size_t>(pool.size())]);
  n_chunks = (n_ctx + kAttnChunk - 1) / kAttnChunk;
  attn_partials.reset(new float[static_cast<size_t>(hp.n_head) * static_cast<size_t>(n_chunks) * (2 + hd)]);
  seg_first_task.resize(B + 1);
  seg_first_merge.resize(B + 1);

  cpu = make_cpu_backend(*this, false);
  split = {cpu.get(), cpu.get(), 0};
}

void Context::Impl::set_split(Backend* first, Backend* rest, int64_t n_first) {
  split = {first, rest, n_first};
  if (first != cpu.get() || rest != cpu.get()) cross.resize(static_cast<size_t>(max_batch * hp.n_embd));
}

// in.x (ntok, n) -> quantized rows in k's activation format (once per format per input).
void Context::Impl::quantize_input(ActInput& in, const TypeKernels* kern) {
  const int f = static_cast<int>(kern->act);
  if (kern->act == ActFormat::F32 || in.ready[f]) return;
  const size_t row = act_row_bytes(kern->act, in.n);
  uint8_t* dst = static_cast<std::vector<uint8_t>*>(in.bufs)[f].data();
  run_tasks(in.ntok, 4.0 * static_cast<double>(in.ntok * in.n),  // ~4 operations per element
            [&](int64_t t, int) { kern->quantize_act(in.x + t * in.n, dst + t * row, in.n); });
  in.ready[f] = true;
}

// For each job: W (rows, n) @ in rows [row0, row0 + ntok)^T -> y (ntok, rows). All jobs' row
// chunks go to the pool as one batch of tasks (one wake-up for Q, K and V, or for every expert).
void Context::Impl::matmuls(const MatJob* jobs, int n_jobs) {
  thread_local std::vector<int64_t> first_task, rows_per_task;
  first_task.assign(static_cast<size_t>(n_jobs) + 1, 0);
  rows_per_task.assign(static_cast<size_t>(n_jobs), kRowsPerTask);
  double work = 0;
  for (int j = 0; j < n_jobs; j++) {
    const MatJob& jb = jobs[j];
    quantize_input(*jb.in, jb.w->kernels);
    const int64_t ntok = jb.ntok < 0 ? jb.in->ntok : jb.ntok;
    rows_per_task[j] = task_rows(jb.w->rows);
    first_task[j + 1] = first_task[j] + (ntok > 0 ? (jb.w->rows + rows_per_task[j] - 1) / rows_per_task[j] : 0);
    work += static_cast<double>(jb.w->rows) * static_cast<double>(jb.w->n) * static_cast<double>(ntok);
  }
  const int64_t* first = first_task.data();
  const int64_t* per = rows_per_task.data();
  run_tasks(first[n_jobs], work, [&](int64_t task, int) {
    int j = 0;
    while (task >= first[j + 1]) j++;
    const MatJob& jb = jobs[j];
    const MatWeight& w = *jb.w;
    const ActInput& in = *jb.in;
    const int64_t ntok = jb.ntok < 0 ? in.ntok : jb.ntok;
    const int64_t r0 = (task - first[j]) * per[j];
    const int64_t nr = std::min(per[j], w.rows - r0);
    const TypeKernels* kern = w.kernels;
    const uint8_t* xq;
    size_t x_stride;
    if (kern->act == ActFormat::F32) {
      x_stride = static_cast<size_t>(in.n) * sizeof(float);
      xq = reinterpret_cast<const uint8_t*>(in.x);
    } else {
      x_stride = act_row_bytes(kern->act, in.n);
      xq = static_cast<std::vector<uint8_t>*>(in.bufs)[static_cast<int>(kern->act)].data();
    }
    xq += static_cast<size_t>(jb.row0) * x_stride;
    if (w.packed)  // r0 and nr are multiples of 8 (task rows are, and so are packed matrices' rows)
      kern->gemm_x8(w.n, w.data + static_cast<size_t>(r0 / 8) * w.group_bytes, w.group_bytes, nr, xq, x_stride, ntok,
                    jb.y + r0, jb.y_stride);
    else
      kern->gemm(w.n, w.data + static_cast<size_t>(r0) * w.row_bytes, w.row_bytes, nr, xq, x_stride, ntok, jb.y + r0,
                 jb.y_stride);
  });
}

namespace {
// Rows (n, bytes), stride apart -> on their way into L2 now, ahead of the products that read
// them. A decode task's Vt rows lie a cache's length apart (a page each, 2 * (len - a) bytes
// long) and its K rows n_kv halves apart: too short and scattered for the hardware prefetchers.
// Zen 4, 1.1B Q4_0, generation after 4096 tokens: 34-37 against 26-35 tok/s in interleaved
// runs; later benchmark runs could not tell it from the host's noise.
void prefetch_rows(const void* p, size_t stride, int64_t n, size_t bytes) {
  const char* row = static_cast<const char*>(p);
  for (int64_t r = 0; r < n; r++, row += stride)
    for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch(row + b, 0, 2);
}
}  // namespace

// Causal attention of batch rows r0..B-1 over their sequences' caches (every row sees its own
// position and what its layer's window keeps before it, already stored): q (B, Hq*hd) -> att
// rows r0..B-1 of (B, Hq*hd). Positions are reduced in chunks of P = kAttnChunk; per chunk and
// query row, over the positions it sees (lo .. pos, lo = pos - W + 1 in a window layer, else 0)
//   S = q K[chunk]^T * scale   (F16 gemm over cached rows), soft-capped if the model says so
//   m = max S, e = exp(S - m), s = sum e, o = e V[chunk]   (F16 gemm over Vt rows)
// and the row's output is fold(chunk states in chunk order) -> o / s. Tasks:
//  - a segment with one row to compute (decode): one task per (KV head, chunk) storing chunk
//    states in its context's attn_partials, then one merge task per KV head (if > 1 chunk), so
//    a long context keeps every thread busy;
//  - otherwise (prefill): one task per (KV head, block of Tb rows), folding chunks as it goes.
// Either way the arithmetic never depends on the thread count.
void Context::Impl::attention(int64_t layer, const Segment* segs, int64_t n_segs, int64_t r0, const float* q,
                              float* att) {
  const int64_t hd = hp.head_dim, G = group, Hkv = hp.n_head_kv, P = kAttnChunk;
  const int64_t tb = std::min(kAttnTokensPerTask, max_batch);
  const float scale = hp.scale_q ? 1.0f : hp.attn_scale;  // scale_q: q was scaled after rope
  const float cap = hp.attn_softcap;
  const int64_t W = hp.layer_cfg[static_cast<size_t>(layer)].window;
  const size_t state = static_cast<size_t>(2 + hd);
  // The first position a query at pos sees.
  auto lo_of = [&](int64_t pos) { return W > 0 ? std::max<int64_t>(0, pos - W + 1) : int64_t(0); };
  // A segment's rows before r0 need no output.
  auto first_row = [&](const Segment& sg) { return std::max(sg.row0, std::min(r0, sg.row0 + sg.n)); };
  auto rows = [&](const Segment& sg) { return sg.row0 + sg.n - first_row(sg); };
  // Chunks a single query at pos reads: [lo/P, pos/P].
  auto chunk_lo = [&](int64_t pos) { return lo_of(pos) / P; };
  auto chunks = [&](int64_t pos) { return pos / P - chunk_lo(pos) + 1; };
  auto n_tasks = [&](const Segment& sg) {  // split: (head, chunk); else (head, block)
    const int64_t nr = rows(sg);
    return nr == 1 ? Hkv * chunks(sg.p0 + sg.n - 1) : Hkv * ((nr + tb - 1) / tb);
  };
  seg_first_task[0] = seg_first_merge[0] = 0;
  double work = 0;  // ~ (query rows) * (visible positions) * hd * 2 for K and V, * G query heads
  for (int64_t si = 0; si < n_segs; si++) {
    const Segment& sg = segs[si];
    const int64_t last = sg.p0 + sg.n - 1;
    work += static_cast<double>(rows(sg)) * static_cast<double>(last + 1 - lo_of(last)) *
            static_cast<double>(2 * hd * hp.n_head);
    seg_first_task[si + 1] = seg_first_task[si] + n_tasks(sg);
    const bool merged = rows(sg) == 1 && chunks(last) > 1;
    seg_first_merge[si + 1] = seg_first_merge[si] + (merged ? Hkv : 0);
  }
  auto segment_of = [&](const std::vector<int64_t>& first, int64_t task) {
    return std::upper_bound(first.begin(), first.begin() + n_segs + 1, task) - first.begin() - 1;
  };
  // Qblk (G, nt, hd) <- q rows t0.. of KV head h's query heads, head-major
  auto gather_q = [&](float* qblk, int64_t h, int64_t t0, int64_t nt) {
    for (int64_t g = 0; g < G; g++)
      for (int64_t t = 0; t < nt; t++)
        std::memcpy(qblk + (g * nt + t) * hd, q + (t0 + t) * n_q + (h * G + g) * hd, sizeof(float) * hd);
  };
  // row (len,) -> weights of positions [a, b) of the chunk (soft-capped, exp-shifted; m and s
  // into ms[0..1]), zero elsewhere. Requires a < b.
  auto weigh = [&](float* row, int64_t len, int64_t a, int64_t b, float* ms) {
    if (cap > 0) {
      if (scale != 1.0f)
        for (int64_t i = a; i < b; i++) row[i] *= scale;
      softcap(row + a, b - a, cap);
      ms[0] = exp_shifted(row + a, b - a, 1.0f, &ms[1]);
    } else {
      ms[0] = exp_shifted(row + a, b - a, scale, &ms[1]);
    }
    std::fill(row, row + a, 0.0f);
    std::fill(row + b, row + len, 0.0f);
  };

  run_tasks(seg_first_task[n_segs], work, [&](int64_t task, int thread) {
    const int64_t si = segment_of(seg_first_task, task);
    const Segment& sg = segs[si];
    Impl& c = of(sg);  // whose cache, scratch and partials
    const KvCache& cache = *c.kv;
    const uint16_t* k_layer = cache.k(layer);
    const uint16_t* v_layer = cache.v(layer);
    const int64_t cap_slots = cache.cap(layer);
    const size_t v_stride = sizeof(uint16_t) * static_cast<size_t>(cap_slots);
    const int64_t Tb = kAttnTokensPerTask;  // the scratch layout's (see attn_scratch)
    float* qblk = c.attn_scratch.get() + c.attn_scratch_per_thread * static_cast<size_t>(thread);  // (G*nt, hd)
    float* S = qblk + G * Tb * hd;    // (G*nt, len) scores, then weights
    float* O = S + G * Tb * P;        // (G*nt, hd) chunk outputs
    float* run = O + G * Tb * hd;     // (G*nt, 2 + hd) running states
    float* ms = run + G * Tb * state; // (G*nt, 2) chunk max and sum
    const int64_t local = task - seg_first_task[si];

    if (rows(sg) == 1) {
      // One query row at position pos: chunk ci of KV head h, for its G query heads.
      const int64_t t0 = sg.row0 + sg.n - 1, pos = sg.p0 + sg.n - 1, C = chunks(pos);
      const int64_t h = local / C, j = local % C, ci = chunk_lo(pos) + j;
      const int64_t c0 = ci * P, len = std::min(P, pos + 1 - c0);
      const int64_t a = std::max<int64_t>(0, lo_of(pos) - c0);  // first seen position in the chunk
      const int64_t slot0 = cache.slot(layer, c0);              // a chunk's slots are contiguous
      const uint16_t* vt = v_layer + static_cast<size_t>(h * hd) * cap_slots + slot0 + a;
      prefetch_rows(vt, v_stride, hd, sizeof(uint16_t) * static_cast<size_t>(len - a));  // V first: read last
      prefetch_rows(k_layer + (slot0 + a) * n_kv + h * hd, sizeof(uint16_t) * n_kv, len - a, sizeof(uint16_t) * hd);
      gather_q(qblk, h, t0, 1);
      // S (G, len) = Qblk (G, hd) @ K[c0 .. c0+len)^T, K rows n_kv halves apart
      f16->gemm(hd, k_layer + slot0 * n_kv + h * hd, sizeof(uint16_t) * n_kv, len, qblk, sizeof(float) * hd, G, S,
                static_cast<size_t>(len));
      for (int64_t g = 0; g < G; g++) weigh(S + g * len, len, a, len, ms + 2 * g);
      // o (G, hd) = S[a..len) (G, len - a) @ V[chunk] (len - a, hd), i.e. Vt rows (hd, len - a) @ S^T
      // (positions the row does not see are not read): straight into att when this is the only
      // chunk (then o / s), else into the chunk states for the merge.
      if (C == 1) {
        float* att_row = att + t0 * n_q + h * G * hd;
        f16->gemm(len - a, vt, v_stride, hd, S + a, sizeof(float) * len, G, att_row, static_cast<size_t>(hd));
        for (int64_t g = 0; g < G; g++) {
          const float inv = 1.0f / ms[2 * g + 1];
          for (int64_t i = 0; i < hd; i++) att_row[g * hd + i] *= inv;
        }
      } else {
        const size_t head_stride = static_cast<size_t>(c.n_chunks) * state;  // next query head's states
        float* part = c.attn_partials.get() + static_cast<size_t>(h * G) * head_stride + static_cast<size_t>(j) * state;
        f16->gemm(len - a, vt, v_stride, hd, S + a, sizeof(float) * len, G, part + 2, head_stride);
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
    for (int64_t ci = chunk_lo(pos0); ci * P < n_vis; ci++) {
      const int64_t c0 = ci * P, len = std::min(P, n_vis - c0);
      const int64_t a0 = std::max<int64_t>(0, lo_of(pos0) - c0);  // the block's first seen position
      const int64_t slot0 = cache.slot(layer, c0);
      // S (G*nt, len) = Qblk @ K[c0 .. c0+len)^T
      f16->gemm(hd, k_layer + slot0 * n_kv + h * hd, sizeof(uint16_t) * n_kv, len, qblk, sizeof(float) * hd, G * nt, S,
                static_cast<size_t>(len));
      for (int64_t g = 0; g < G; g++)
        for (int64_t t = 0; t < nt; t++) {
          float* row = S + (g * nt + t) * len;
          const int64_t a = std::max<int64_t>(0, lo_of(pos0 + t) - c0);
          const int64_t b = std::min(len, pos0 + t + 1 - c0);  // causal
          if (a < b) weigh(row, len, a, b, ms + 2 * (g * nt + t));
          else std::fill(row, row + len, 0.0f);
        }
      // O (nt, hd) per query head = S_g[a0..len) (nt, len - a0) @ V[chunk] (len - a0, hd)
      const uint16_t* vt = v_layer + static_cast<size_t>(h * hd) * cap_slots + slot0 + a0;
      for (int64_t g = 0; g < G; g++)
        f16->gemm(len - a0, vt, v_stride, hd, S + g * nt * len + a0, sizeof(float) * len, nt, O + g * nt * hd,
                  static_cast<size_t>(hd));
      for (int64_t r = 0; r < G * nt; r++) {
        const int64_t t = r % nt, pos = pos0 + t;
        if (lo_of(pos) < c0 + len && pos >= c0)  // the row sees something in this chunk
          fold(run + r * state, ms[2 * r], ms[2 * r + 1], O + r * hd, hd, ci == chunk_lo(pos));
      }
    }
    for (int64_t g = 0; g < G; g++)
      for (int64_t t = 0; t < nt; t++)
        finish(att + (t0 + t) * n_q + (h * G + g) * hd, run + (g * nt + t) * state, hd);
  });

  // Single rows split over several chunks: att row = fold(chunk states in order) -> o / s.
  if (seg_first_merge[n_segs] == 0) return;
  run_tasks(seg_first_merge[n_segs], work / kAttnChunk, [&](int64_t task, int thread) {
    const int64_t si = segment_of(seg_first_merge, task);
    const Segment& sg = segs[si];
    Impl& c = of(sg);
    const int64_t h = task - seg_first_merge[si];
    const int64_t t0 = sg.row0 + sg.n - 1, C = chunks(sg.p0 + sg.n - 1);
    float* st = c.attn_scratch.get() + c.attn_scratch_per_thread * static_cast<size_t>(thread);  // (2 + hd)
    const size_t head_stride = static_cast<size_t>(c.n_chunks) * state;
    for (int64_t g = 0; g < G; g++) {
      const float* part = c.attn_partials.get() + static_cast<size_t>(h * G + g) * head_stride;
      for (int64_t j = 0; j < C; j++) {
        const float* p = part + static_cast<size_t>(j) * state;
        fold(st, p[0], p[1], p + 2, hd, j == 0);
      }
      finish(att + t0 * n_q + (h * G + g) * hd, st, hd);
    }
  });
}

// Mixture of experts on rows r0..B-1 (R rows): xb (R, D) -> xb2 (R, D).
//   logits (R, E) = xb @ Wgate_inp^T; per row the K experts of largest gate probability and
//   their weights (ops.h route_experts); rows gathered by expert into moe_x (R*K, D), so each
//   used expert's matrices are read once for all its rows:
//   g, u (n_e, Fe) = x_e @ Wgate_e^T, Wup_e^T;  g = act(g) * u;  o (n_e, D) = g @ Wdown_e^T
//   xb2 row = sum over k in rank order of weight_k * o(row, expert_k)   (llama.cpp's order)
void Context::Impl::moe_ffn(const LayerWeights& L, const float* xb, float* xb2, int64_t r0, int64_t B) {
  const int64_t R = B - r0, D = hp.n_embd, E = hp.n_expert, K = hp.n_expert_used, Fe = hp.n_ff_exp;
  ActInput in;
  in.bufs = act_bufs;
  in.x = xb + r0 * D;
  in.ntok = R;
  in.n = D;
  const MatJob router[1] = {{&L.gate_inp, &in, moe_logits.data(), static_cast<size_t>(E)}};
  matmuls(router, 1);
  for (int64_t r = 0; r < R; r++)
    route_experts(moe_logits.data() + r * E, E, K, hp.expert_gating, hp.expert_weights_norm, moe_probs.data(),
                  moe_ids.data() + r * K, moe_w.data() + r * K);

  // Counting sort of (row, k) pairs by expert: expert e's rows at [first[e], first[e + 1]).
  thread_local std::vector<int64_t> first;
  first.assign(static_cast<size_t>(E) + 1, 0);
  for (int64_t i = 0; i < R * K; i++) first[static_cast<size_t>(moe_ids[i]) + 1]++;
  for (int64_t e = 0; e < E; e++) first[e + 1] += first[e];
  thread_local std::vector<int64_t> fill;
  fill.assign(first.begin(), first.end() - 1);
  for (int64_t i = 0; i < R * K; i++) {
    const int64_t at = fill[static_cast<size_t>(moe_ids[i])]++;
    moe_slot[i] = at;
    std::memcpy(moe_x.get() + at * D, xb + (r0 + i / K) * D, sizeof(float) * static_cast<size_t>(D));
  }

  ActInput gathered;
  gathered.bufs = moe_act_bufs;
  gathered.x = moe_x.get();
  gathered.ntok = R * K;
  gathered.n = D;
  thread_local std::vector<MatJob> jobs;
  jobs.clear();
  for (int64_t e = 0; e < E; e++) {
    const int64_t n_e = first[e + 1] - first[e];
    if (n_e == 0) continue;
    jobs.push_back({&L.gate_exps[e], &gathered, moe_g.get() + first[e] * Fe, static_cast<size_t>(Fe), first[e], n_e});
    jobs.push_back({&L.up_exps[e], &gathered, moe_u.get() + first[e] * Fe, static_cast<size_t>(Fe), first[e], n_e});
    stats.expert_products += 3;
    stats.expert_bytes += (L.gate_exps[e].row_bytes + L.up_exps[e].row_bytes) * static_cast<size_t>(Fe) +
                          L.down_exps[e].row_bytes * static_cast<size_t>(D);
  }
  matmuls(jobs.data(), static_cast<int>(jobs.size()));
  gated_activation(hp.spec->ffn, moe_g.get(), moe_u.get(), R * K * Fe);

  ActInput hidden;
  hidden.bufs = moe_act_bufs;
  hidden.x = moe_g.get();
  hidden.ntok = R * K;
  hidden.n = Fe;
  jobs.clear();
  for (int64_t e = 0; e < E; e++) {
    const int64_t n_e = first[e + 1] - first[e];
    if (n_e == 0) continue;
    jobs.push_back({&L.down_exps[e], &hidden, moe_o.get() + first[e] * D, static_cast<size_t>(D), first[e], n_e});
  }
  matmuls(jobs.data(), static_cast<int>(jobs.size()));

  for (int64_t r = 0; r < R; r++) {
    float* y = xb2 + (r0 + r) * D;
    for (int64_t kk = 0; kk < K; kk++) {
      const float w = moe_w[r * K + kk];
      const float* o = moe_o.get() + moe_slot[r * K + kk] * D;
      if (kk == 0)
        for (int64_t i = 0; i < D; i++) y[i] = o[i] * w;
      else
        for (int64_t i = 0; i < D; i++) y[i] += o[i] * w;
    }
  }
}

// tokens (B,) -> each segment's KV cache rows at its positions, and per `what`: out = logits
// (1 or B, V) or hidden states (B, D). Each layer runs on its backend of `split` (backend.h),
// the hidden state crossing once where the backend changes.
bool Context::Impl::forward(const int32_t* tokens, int64_t B, const Segment* segs, int64_t n_segs, Output what,
                            float* out, const std::atomic<bool>* cancel) {
  const ArchSpec& spec = *hp.spec;
  const int64_t D = hp.n_embd, F = hp.n_ff, half = hp.rope_dim / 2, hd = hp.head_dim;
  const size_t cs_per_rope = static_cast<size_t>(B) * 2 * static_cast<size_t>(half);
  const size_t BD = static_cast<size_t>(B * D);
  Backend* be = &split.of(0);

  // x (B, D) <- token embeddings (* sqrt(D) for Gemma), on the host
  float* x0 = be->host_memory() ? be->scratch().x : cross.data();
  for (int64_t t = 0; t < B; t++) {
    m.tok_embd.kernels->dequantize_row(m.tok_embd.data + static_cast<size_t>(tokens[t]) * m.tok_embd.row_bytes,
                                       x0 + t * D, D);
    if (hp.embd_scale != 1.0f)
      for (int64_t i = 0; i < D; i++) x0[t * D + i] *= hp.embd_scale;
  }
  if (x0 != be->scratch().x) be->to_backend(be->scratch().x, x0, BD);

  // rope_cs (n_ropes, B, half, 2): the angles of each row's position for each rope variant.
  for (size_t ri = 0; ri < hp.ropes.size(); ri++)
    for (int64_t si = 0; si < n_segs; si++)
      for (int64_t t = segs[si].row0; t < segs[si].row0 + segs[si].n; t++)
        rope_angles(rope_cs.data() + ri * cs_per_rope + t * 2 * half, segs[si].p0 + (t - segs[si].row0), half,
                    hp.rope_dim, hp.ropes[ri], rope_factors[ri]);
  const size_t n_cs = hp.ropes.size() * cs_per_rope;
  split.first->set_rope_angles(rope_cs.data(), n_cs);
  if (split.rest != split.first) split.rest->set_rope_angles(rope_cs.data(), n_cs);

  ActInput in;
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
    const LayerConfig& lc = hp.layer_cfg[static_cast<size_t>(il)];
    Backend* next = &split.of(il);
    if (next != be) {  // x (B, D) crosses to the next backend through the host
      be->to_host(cross.data(), be->scratch().x, BD);
      next->to_backend(next->scratch().x, cross.data(), BD);
      be = next;
    }
    const Scratch& s = be->scratch();
    in.bufs = s.act;

    // xb (B, D) = rmsnorm(x) * attn_norm
    be->rmsnorm(s.xb, s.x, L.attn_norm, B, D, hp.rms_eps);

    // q (B, Hq*hd), k (B, Hkv*hd), v (B, Hkv*hd) = xb @ Wq^T, Wk^T, Wv^T   (one quantization of xb)
    set_input(s.xb, 0, D);
    const MatJob qkv[3] = {{&L.wq, &in, s.q, static_cast<size_t>(n_q)},
                           {&L.wk, &in, s.k, static_cast<size_t>(n_kv)},
                           {&L.wv, &in, s.v, static_cast<size_t>(n_kv)}};
    be->matmuls(qkv, 3);
    if (L.bq.data) {  // q (B, Hq*hd) += bq, k, v (B, Hkv*hd) += bk, bv (Qwen2)
      be->add_bias(s.q, L.bq, B, n_q);
      be->add_bias(s.k, L.bk, B, n_kv);
      be->add_bias(s.v, L.bv, B, n_kv);
    }
    // q, k = rmsnorm per head (B*Hq, hd) * q_norm, (B*Hkv, hd) * k_norm (Qwen3, Gemma 3), or
    // over the whole vectors (B, n_q), (B, n_kv) (OLMoE)
    if (spec.qk_norm == QkNorm::PerHead) {
      be->rmsnorm(s.q, s.q, L.q_norm, B * hp.n_head, hd, hp.rms_eps);
      be->rmsnorm(s.k, s.k, L.k_norm, B * hp.n_head_kv, hd, hp.rms_eps);
    } else if (spec.qk_norm == QkNorm::Whole) {
      be->rmsnorm(s.q, s.q, L.q_norm, B, n_q, hp.rms_eps);
      be->rmsnorm(s.k, s.k, L.k_norm, B, n_kv, hp.rms_eps);
    }

    // rope on q (B, Hq, hd) and k (B, Hkv, hd), per token position, with the layer's variant;
    // q *= attention scale afterwards where the architecture scales q (Gemma, Phi-3)
    be->rope(s.q, s.k, B, lc.rope, spec.rope, hp.scale_q ? hp.attn_scale : 0.0f);

    // KV caches <- k, v rows at their positions' slots (F16; V transposed to (Hkv*hd, cap))
    be->kv_store(il, segs, n_segs, s.k, s.v);

    // From here on only rows r0..B-1 are needed (all of them except in the last layer).
    const int64_t r0 = il == hp.n_layer - 1 ? out_first : 0;
    if (r0 == B) break;
    const int64_t R = B - r0;

    // att (R, Hq*hd) = causal softmax(q k^T * scale) v over each row's cache (and window)
    be->attention(il, segs, n_segs, r0, s.q, s.att);

    // xb2 (R, D) = att @ Wo^T (then rmsnorm * attn_post_norm for Gemma); x (R, D) += xb2
    set_input(s.att, r0, n_q);
    const MatJob wo[1] = {{&L.wo, &in, s.xb2 + r0 * D, static_cast<size_t>(D)}};
    be->matmuls(wo, 1);
    if (L.attn_post_norm.data) be->rmsnorm(s.xb2 + r0 * D, s.xb2 + r0 * D, L.attn_post_norm, R, D, hp.rms_eps);
    be->add(s.x + r0 * D, s.xb2 + r0 * D, R * D);

    // xb (R, D) = rmsnorm(x) * ffn_norm
    be->rmsnorm(s.xb + r0 * D, s.x + r0 * D, L.ffn_norm, R, D, hp.rms_eps);

    if (lc.moe) {
      // xb2 (R, D) = mixture of experts (xb)
      be->moe_ffn(L, s.xb, s.xb2, r0, B);
    } else {
      // hb (R, F) = xb @ Wgate^T, hb2 (R, F) = xb @ Wup^T   (one quantization of xb)
      set_input(s.xb, r0, D);
      const MatJob gate_up[2] = {{&L.w_gate, &in, s.hb, static_cast<size_t>(F)},
                                 {&L.w_up, &in, s.hb2, static_cast<size_t>(F)}};
      be->matmuls(gate_up, 2);
      // hb (R, F) = act(hb) * hb2   (SwiGLU, or GELU-gated for Gemma)
      be->gated_activation(spec.ffn, s.hb, s.hb2, R * F);
      // xb2 (R, D) = hb @ Wdown^T
      in.x = s.hb;  // hb rows are packed from 0
      in.ntok = R;
      in.n = F;
      in.ready[0] = in.ready[1] = in.ready[2] = false;
      const MatJob down[1] = {{&L.w_down, &in, s.xb2 + r0 * D, static_cast<size_t>(D)}};
      be->matmuls(down, 1);
    }
    // (xb2 = rmsnorm(xb2) * ffn_post_norm for Gemma); x (R, D) += xb2
    if (L.ffn_post_norm.data) be->rmsnorm(s.xb2 + r0 * D, s.xb2 + r0 * D, L.ffn_post_norm, R, D, hp.rms_eps);
    be->add(s.x + r0 * D, s.xb2 + r0 * D, R * D);
  }

  if (what == Output::None) return true;
  // On the last layer's backend (be): xb (R, D) = rmsnorm(x rows) * output_norm, R = B or just
  // the last token; hidden states go straight to out (B, D) where out is in its memory.
  const Scratch& s = be->scratch();
  const bool host = be->host_memory();
  const int64_t R = B - out_first;
  float* normed = what == Output::AllHidden ? (host ? out : s.out) : s.xb;
  be->rmsnorm(normed, s.x + out_first * D, m.output_norm, R, D, hp.rms_eps);
  if (what == Output::AllHidden) {
    if (!host) be->to_host(out, s.out, static_cast<size_t>(R * D));
    return true;
  }
  // logits (R, V) = xb @ output^T (soft-capped for Gemma 2), back to the host
  float* logits = host ? out : s.out;
  in.bufs = s.act;
  in.x = s.xb;
  in.ntok = R;
  in.n = D;
  in.ready[0] = in.ready[1] = in.ready[2] = false;
  const MatJob head[1] = {{&m.output, &in, logits, static_cast<size_t>(hp.n_vocab)}};
  be->matmuls(head, 1);
  if (hp.final_softcap > 0) be->softcap(logits, R * hp.n_vocab, hp.final_softcap);
  if (!host) be->to_host(out, logits, static_cast<size_t>(R * hp.n_vocab));
  return true;
}

Context::Context(const Model& model, int64_t n_ctx, bool full_windows, int64_t rope_n_ctx) {
  if (model.vocab_only())
    fail("INVALID_ARGUMENT", "Expected a model loaded with weights but received a vocabulary-only model");
  if (n_ctx < 0 || n_ctx > (int64_t(1) << 24))
    fail("INVALID_ARGUMENT", "Expected a context size between 0 and 16777216 but received " + std::to_string(n_ctx));
  try {
    if (rope_n_ctx < 0 || rope_n_ctx > (int64_t(1) << 30))
      fail("INVALID_ARGUMENT", "Expected a rope context size between 0 and 2^30 but received " + std::to_string(rope_n_ctx));
    impl_.reset(new Impl(model, n_ctx, full_windows, rope_n_ctx));
  } catch (const std::bad_alloc&) {
    const HParams& hp = model.hparams();
    const int64_t n = n_ctx ? n_ctx : std::min<int64_t>(hp.n_ctx_train > 0 ? hp.n_ctx_train : 4096, 4096);
    const double kv_mib = 4.0 * hp.n_layer * n * hp.n_head_kv * hp.head_dim / (1024.0 * 1024.0);
    fail("OUT_OF_MEMORY", "Cannot allocate a context of " + std::to_string(n) + " tokens (KV cache up to " +
                              std::to_string(static_cast<int64_t>(kv_mib)) + " MiB); use a smaller context size");
  }
}

Context::~Context() = default;

int64_t Context::n_ctx() const { return impl_->n_ctx; }
int64_t Context::n_past() const { return impl_->n_past; }
const Context::Stats& Context::stats() const { return impl_->stats; }
size_t Context::kv_bytes() const { return impl_->kv->bytes(); }

int64_t Context::truncate(int64_t n) {
  if (n < 0 || n > impl_->n_past)
    fail("INVALID_ARGUMENT", "Expected a position between 0 and " + std::to_string(impl_->n_past) +
                                 " to truncate at but received " + std::to_string(n));
  KvCache& kv = *impl_->kv;
  if (!kv.can_keep(n)) n = 0;
  if (n == 0) kv.set_window_floor(0);
  impl_->n_past = n;  // later rows are overwritten by the next decode; nothing to clear
  return n;
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
    const bool ok = c.forward(tokens + done, B, &seg, 1, chunk_what, dst, cancel);
    // Ring slots were (partly) overwritten either way: record what they hold now.
    for (int64_t p = c.n_past; p < c.n_past + B; p++) c.kv->note_written(p);
    if (!ok) {
      c.n_past = start;
      if (!c.kv->can_keep(start)) c.n_past = 0;  // the cancelled rows overwrote part of the window
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
  Segment segs[kMaxBatch];
  for (int64_t done = 0; done < n_seqs;) {
    const int64_t B = std::min(lead.max_batch, n_seqs - done);
    for (int64_t r = 0; r < B; r++) {
      Impl* c = contexts[done + r]->impl_.get();
      segs[r] = {c, r, 1, c->n_past};
    }
    const bool ok = lead.forward(tokens + done, B, segs, B, Impl::Output::AllLogits, logits.data() + done * V, cancel);
    for (int64_t r = 0; r < B; r++) Impl::of(segs[r]).kv->note_written(segs[r].p0);
    if (!ok) {
      for (int64_t i = 0; i < done; i++) contexts[i]->impl_->n_past--;  // all or nothing
      for (int64_t i = 0; i < n_seqs; i++) {
        Impl& c = *contexts[i]->impl_;
        if (!c.kv->can_keep(c.n_past)) c.n_past = 0;  // a ring slot of its window was overwritten
      }
      fail("ABORTED", "Decoding was cancelled");
    }
    for (int64_t r = 0; r < B; r++) Impl::of(segs[r]).n_past++;
    done += B;
  }
}

}  // namespace hb
