// Model loading: GGUF mapping -> hyperparameters -> weights bound in place (never copied) ->
// thread pool. What each architecture needs comes from its entry in the arch.cpp table.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cmath>
#include <cstring>
#include <new>
#include <sstream>

#include "error.h"
#include "model_impl.h"
#include "platform.h"

namespace hb {

namespace {

std::string shape_str(const int64_t* ne, int n_dims) {
  std::ostringstream os;
  os << '[';
  for (int d = 0; d < n_dims; d++) os << (d ? ", " : "") << ne[d];
  os << ']';
  return os.str();
}

const char* type_name_of(const GgufTensor& t) {
  const char* name = ggml_type_info(t.type_id).name;
  return name ? name : "unknown";
}

const GgufTensor* find_required(const GgufFile& g, const std::string& name) {
  const GgufTensor* t = g.find_tensor(name);
  if (!t) fail("MISSING_TENSOR", "Missing tensor " + name + " (required by this architecture)");
  if (!t->data) fail("GGUF_TRUNCATED", "Tensor " + name + " has no data in the file");
  return t;
}

// want: expected ne[0..] (trailing dimensions of size 1 are equivalent to absent ones).
void check_shape(const GgufTensor& t, std::initializer_list<int64_t> want) {
  int64_t w[4] = {1, 1, 1, 1};
  int nw = 0;
  for (int64_t v : want) w[nw++] = v;
  bool ok = true;
  for (int d = 0; d < 4; d++) ok = ok && t.ne[d] == w[d];
  if (!ok)
    fail("TENSOR_SHAPE_MISMATCH", "Expected shape " + shape_str(w, nw) + " for tensor " + t.name + " but received " +
                                      shape_str(t.ne, static_cast<int>(t.n_dims)));
}

// Binds rows [row0, row0 + rows) of expert `expert` of a matrix tensor of `total_rows` rows of `n`
// elements (GGUF ne = [n, total_rows] or, with n_expert > 0, [n, total_rows, n_expert]) for the
// matmul kernels: the whole matrix, a row view of a fused tensor, or one expert of a 3-D one.
MatWeight bind_matrix_view(const GgufTensor& t, int64_t total_rows, int64_t n, int64_t row0, int64_t rows,
                           int64_t n_expert = 0, int64_t expert = 0) {
  if (n_expert > 0) check_shape(t, {n, total_rows, n_expert});
  else check_shape(t, {n, total_rows});
  GgmlTypeInfo info = ggml_type_info(t.type_id);
  const TypeKernels* k = info.name ? kernels_for(t.type()) : nullptr;
  if (!k || !k->gemm || !k->quantize_act)
    fail("UNSUPPORTED_TENSOR_TYPE", std::string("Tensor ") + t.name + " has type " + type_name_of(t) +
                                        ", which has no matrix kernels in this build");
  if (n % info.block_size != 0)
    fail("GGUF_BAD_TENSOR", "Expected a row length divisible by the " + std::string(info.name) + " block size " +
                                std::to_string(info.block_size) + " for tensor " + t.name + " but received " +
                                std::to_string(n));
  MatWeight w;
  w.tensor = &t;
  w.type = t.type();
  w.kernels = k;
  w.n = n;
  w.rows = rows;
  w.row_bytes = static_cast<size_t>(n / info.block_size) * info.type_size;
  const uint64_t all_rows = static_cast<uint64_t>(total_rows) * static_cast<uint64_t>(n_expert > 0 ? n_expert : 1);
  if (t.nbytes < w.row_bytes * all_rows)
    fail("GGUF_BAD_TENSOR", "Expected at least " + std::to_string(w.row_bytes * all_rows) + " data bytes for tensor " +
                                t.name + " but received " + std::to_string(t.nbytes));
  w.data = t.data + (static_cast<size_t>(expert) * static_cast<size_t>(total_rows) + static_cast<size_t>(row0)) * w.row_bytes;
  w.gguf_data = w.data;
  return w;
}

MatWeight bind_matrix(const GgufTensor& t, int64_t rows, int64_t n) { return bind_matrix_view(t, rows, n, 0, rows); }

// Binds a vector of n floats; F32 data is used in place, other types are converted once.
VecWeight bind_vector(const GgufTensor& t, int64_t n) {
  check_shape(t, {n});
  VecWeight v;
  v.n = n;
  if (t.type() == GgmlType::F32 && reinterpret_cast<uintptr_t>(t.data) % alignof(float) == 0) {
    v.data = reinterpret_cast<const float*>(t.data);
    return v;
  }
  const TypeKernels* k = ggml_type_info(t.type_id).name ? kernels_for(t.type()) : nullptr;
  if (!k || !k->dequantize_row)
    fail("UNSUPPORTED_TENSOR_TYPE", std::string("Tensor ") + t.name + " has type " + type_name_of(t) +
                                        ", which cannot be converted to floats in this build");
  v.owned.resize(static_cast<size_t>(n));
  k->dequantize_row(t.data, v.owned.data(), n);
  v.data = v.owned.data();
  return v;
}

int64_t positive_hparam(const GgufFile& g, const std::string& key, uint64_t fallback, bool required, int64_t max) {
  uint64_t v = required ? g.get_u64(key) : g.get_u64_or(key, fallback);
  if (v == 0 || v > static_cast<uint64_t>(max))
    fail("GGUF_BAD_METADATA", "Expected " + key + " between 1 and " + std::to_string(max) + " but received " +
                                  std::to_string(v));
  return static_cast<int64_t>(v);
}

void read_hparams(const GgufFile& g, HParams& hp, bool lenient) {
  const std::string& a = hp.arch;
  hp.name = g.get_string_or("general.name", "");
  hp.file_type = g.get_u32_or("general.file_type", 0);
  if (lenient) {
    // Vocabulary-only files carry few model keys; report what is there, require nothing.
    auto u = [&](const std::string& k) { try { return static_cast<int64_t>(g.get_u64_or(k, 0)); } catch (const Error&) { return int64_t(0); } };
    hp.n_ctx_train = u(a + ".context_length");
    hp.n_embd = u(a + ".embedding_length");
    hp.n_layer = u(a + ".block_count");
    hp.n_ff = u(a + ".feed_forward_length");
    hp.n_head = u(a + ".attention.head_count");
    hp.n_head_kv = u(a + ".attention.head_count_kv");
    if (!hp.n_head_kv) hp.n_head_kv = hp.n_head;
    hp.head_dim = hp.n_head ? hp.n_embd / hp.n_head : 0;
    hp.rope_dim = hp.head_dim;
    return;
  }
  const int64_t kMaxDim = int64_t(1) << 20;
  hp.n_ctx_train = positive_hparam(g, a + ".context_length", 0, true, int64_t(1) << 30);
  hp.n_embd = positive_hparam(g, a + ".embedding_length", 0, true, kMaxDim);
  hp.n_layer = positive_hparam(g, a + ".block_count", 0, true, 4096);
  hp.n_ff = positive_hparam(g, a + ".feed_forward_length", 0, true, kMaxDim);
  hp.n_head = positive_hparam(g, a + ".attention.head_count", 0, true, 4096);
  hp.n_head_kv = positive_hparam(g, a + ".attention.head_count_kv", static_cast<uint64_t>(hp.n_head), false, 4096);
  if (hp.n_head % hp.n_head_kv != 0)
    fail("GGUF_BAD_METADATA", "Expected " + a + ".attention.head_count_kv to divide head_count " +
                                  std::to_string(hp.n_head) + " but received " + std::to_string(hp.n_head_kv));
  if (!g.find(a + ".attention.key_length") && hp.n_embd % hp.n_head != 0)
    fail("GGUF_BAD_METADATA", "Expected " + a + ".embedding_length to be a multiple of head_count " +
                                  std::to_string(hp.n_head) + " but received " + std::to_string(hp.n_embd));
  hp.head_dim = positive_hparam(g, a + ".attention.key_length", static_cast<uint64_t>(hp.n_embd / hp.n_head), false,
                                kMaxDim);
  const int64_t v_dim = positive_hparam(g, a + ".attention.value_length", static_cast<uint64_t>(hp.head_dim), false,
                                        kMaxDim);
  if (v_dim != hp.head_dim)
    fail("UNSUPPORTED_ARCHITECTURE", "Expected " + a + ".attention.value_length equal to key_length " +
                                         std::to_string(hp.head_dim) + " but received " + std::to_string(v_dim));
  hp.rope_dim = positive_hparam(g, a + ".rope.dimension_count", static_cast<uint64_t>(hp.head_dim), false, kMaxDim);
  if (hp.rope_dim > hp.head_dim || hp.rope_dim % 2 != 0)
    fail("GGUF_BAD_METADATA", "Expected " + a + ".rope.dimension_count to be even and at most the head size " +
                                  std::to_string(hp.head_dim) + " but received " + std::to_string(hp.rope_dim));

  const double eps = g.get_f64_or(a + ".attention.layer_norm_rms_epsilon", 1e-5);
  if (!(eps > 0 && eps < 1))
    fail("GGUF_BAD_METADATA", "Expected " + a + ".attention.layer_norm_rms_epsilon in (0, 1) but received " +
                                  std::to_string(eps));
  hp.rms_eps = static_cast<float>(eps);
  const double base = g.get_f64_or(a + ".rope.freq_base", 10000.0);
  if (!(base > 1 && std::isfinite(base)))
    fail("GGUF_BAD_METADATA", "Expected " + a + ".rope.freq_base above 1 but received " + std::to_string(base));
  hp.rope_freq_base = static_cast<float>(base);

}

const GgufTensor* find_optional(const GgufFile& g, const std::string& name) {
  const GgufTensor* t = g.find_tensor(name);
  if (t && !t->data) fail("GGUF_TRUNCATED", "Tensor " + name + " has no data in the file");
  return t;
}

void bind_weights(Model::Impl& m) {
  const GgufFile& g = *m.gguf;
  const HParams& hp = m.hp;
  const ArchSpec& spec = *hp.spec;
  const int64_t D = hp.n_embd, n_q = hp.n_head * hp.head_dim, n_kv = hp.n_head_kv * hp.head_dim;

  m.tok_embd = bind_matrix(*find_required(g, "token_embd.weight"), hp.n_vocab, D);
  if (!m.tok_embd.kernels->dequantize_row)  // embedding lookups dequantize rows
    fail("UNSUPPORTED_TENSOR_TYPE", std::string("Tensor token_embd.weight has type ") +
                                        type_name_of(*m.tok_embd.tensor) + ", which cannot be converted to floats in this build");
  m.output_norm = bind_vector(*find_required(g, "output_norm.weight"), D);
  if (const GgufTensor* out = find_optional(g, "output.weight")) {
    m.output = bind_matrix(*out, hp.n_vocab, D);
  } else {
    m.output = m.tok_embd;  // tied embeddings
    m.tied_output = true;
  }
  const int64_t half = hp.rope_dim / 2;
  if (const GgufTensor* rf = find_optional(g, "rope_freqs.weight")) m.rope_freqs = bind_vector(*rf, half);
  if (spec.longrope) {
    const GgufTensor* lo = find_optional(g, "rope_factors_long.weight");
    const GgufTensor* sh = find_optional(g, "rope_factors_short.weight");
    if (lo) m.rope_long = bind_vector(*lo, half);
    if (sh) m.rope_short = bind_vector(*sh, half);
  }

  m.layers.resize(static_cast<size_t>(hp.n_layer));
  for (int64_t il = 0; il < hp.n_layer; il++) {
    LayerWeights& L = m.layers[static_cast<size_t>(il)];
    const LayerConfig& lc = hp.layer_cfg[static_cast<size_t>(il)];
    const std::string p = "blk." + std::to_string(il) + ".";
    auto T = [&](const char* name) -> const GgufTensor& { return *find_required(g, p + name); };
    auto opt = [&](const char* name) { return find_optional(g, p + name); };
    L.attn_norm = bind_vector(T("attn_norm.weight"), D);
    if (const GgufTensor* qkv = opt("attn_qkv.weight")) {  // fused: row views, no copies
      const int64_t rows = n_q + 2 * n_kv;
      L.wq = bind_matrix_view(*qkv, rows, D, 0, n_q);
      L.wk = bind_matrix_view(*qkv, rows, D, n_q, n_kv);
      L.wv = bind_matrix_view(*qkv, rows, D, n_q + n_kv, n_kv);
      if (opt("attn_qkv.bias"))
        fail("UNSUPPORTED_ARCHITECTURE", "Tensor " + p + "attn_qkv.bias (a fused Q/K/V bias) is not supported");
    } else {
      L.wq = bind_matrix(T("attn_q.weight"), n_q, D);
      L.wk = bind_matrix(T("attn_k.weight"), n_kv, D);
      L.wv = bind_matrix(T("attn_v.weight"), n_kv, D);
      const GgufTensor* bq = opt("attn_q.bias");
      const GgufTensor* bk = opt("attn_k.bias");
      const GgufTensor* bv = opt("attn_v.bias");
      if (bq || bk || bv) {  // all three or none
        L.bq = bind_vector(T("attn_q.bias"), n_q);
        L.bk = bind_vector(T("attn_k.bias"), n_kv);
        L.bv = bind_vector(T("attn_v.bias"), n_kv);
      }
    }
    if (spec.qk_norm == QkNorm::PerHead) {
      L.q_norm = bind_vector(T("attn_q_norm.weight"), hp.head_dim);
      L.k_norm = bind_vector(T("attn_k_norm.weight"), hp.head_dim);
    } else if (spec.qk_norm == QkNorm::Whole) {
      L.q_norm = bind_vector(T("attn_q_norm.weight"), n_q);
      L.k_norm = bind_vector(T("attn_k_norm.weight"), n_kv);
    }
    L.wo = bind_matrix(T("attn_output.weight"), D, n_q);
    if (spec.post_norms) L.attn_post_norm = bind_vector(T("post_attention_norm.weight"), D);
    L.ffn_norm = bind_vector(T("ffn_norm.weight"), D);
    if (lc.moe) {
      const int64_t E = hp.n_expert, Fe = hp.n_ff_exp;
      L.gate_inp = bind_matrix(T("ffn_gate_inp.weight"), E, D);
      const GgufTensor& gate = T("ffn_gate_exps.weight");
      const GgufTensor& up = T("ffn_up_exps.weight");
      const GgufTensor& down = T("ffn_down_exps.weight");
      for (int64_t e = 0; e < E; e++) {
        L.gate_exps.push_back(bind_matrix_view(gate, Fe, D, 0, Fe, E, e));
        L.up_exps.push_back(bind_matrix_view(up, Fe, D, 0, Fe, E, e));
        L.down_exps.push_back(bind_matrix_view(down, D, Fe, 0, D, E, e));
      }
    } else if (spec.fused_gate_up) {
      const GgufTensor& up = T("ffn_up.weight");
      L.w_gate = bind_matrix_view(up, 2 * hp.n_ff, D, 0, hp.n_ff);
      L.w_up = bind_matrix_view(up, 2 * hp.n_ff, D, hp.n_ff, hp.n_ff);
      L.w_down = bind_matrix(T("ffn_down.weight"), D, hp.n_ff);
    } else {
      L.w_gate = bind_matrix(T("ffn_gate.weight"), hp.n_ff, D);
      L.w_up = bind_matrix(T("ffn_up.weight"), hp.n_ff, D);
      L.w_down = bind_matrix(T("ffn_down.weight"), D, hp.n_ff);
    }
    if (spec.post_norms) L.ffn_post_norm = bind_vector(T("post_ffw_norm.weight"), D);
  }
}

// Fingerprint of a loaded file: size, raw header bytes (metadata and tensor table, so another
// tokenizer or name differs too) and three 256-byte samples of every tensor's data (so two
// fine-tunes of one base with identical headers differ as soon as any tensor changed anywhere
// near a sample; cheap: a few hundred KB even for large models, already paged in).
uint64_t model_fingerprint(const GgufFile& g) {
  uint64_t h = hash_bytes(nullptr, 0, static_cast<uint64_t>(g.file_size()));
  if (const MappedFile* f = g.file())
    h = hash_bytes(f->data(), static_cast<size_t>(std::min<uint64_t>(g.data_offset, f->size())), h);
  for (const GgufTensor& t : g.tensors) {
    h = hash_bytes(t.name.data(), t.name.size(), h);
    if (!t.data || t.nbytes == 0) continue;
    const uint64_t sample = std::min<uint64_t>(256, t.nbytes);
    for (uint64_t at : {uint64_t(0), (t.nbytes - sample) / 2, t.nbytes - sample})
      h = hash_bytes(t.data + at, static_cast<size_t>(sample), h);
  }
  return h;
}

}  // namespace

void AlignedBytes::Free::operator()(uint8_t* p) const { platform::free_large(p, size); }

namespace {

// Pack cache files (LoadOptions::pack_cache_dir): a 4096-byte header, then the packed buffer
// exactly as pack_weights lays it out. Bump kPackLayoutVersion whenever pack_rows_x8's output or
// the buffer's order changes, so older files are never read as the new layout.
constexpr char kPackMagic[8] = {'H', 'B', 'X', '8', 'P', 'A', 'C', 'K'};
constexpr uint32_t kPackFormat = 1;
constexpr uint64_t kPackLayoutVersion = 3;  // 2: IQ4_XS packed; 3: Q2_K and Q3_K packed
constexpr size_t kPackHeaderBytes = 4096;
struct PackHeader {
  char magic[8];
  uint32_t format, header_bytes;
  uint64_t layout, fingerprint, source_size, arena_bytes, matrices, arena_hash;
};
static_assert(sizeof(PackHeader) == 64, "pack cache header layout");

// hash_bytes over 16 MiB chunks on the pool, then over the chunk hashes (the same value for any
// thread count).
uint64_t hash_parallel(ThreadPool& pool, const uint8_t* p, size_t n) {
  const size_t chunk = size_t(16) << 20;
  const int64_t chunks = static_cast<int64_t>((n + chunk - 1) / chunk);
  std::vector<uint64_t> h(static_cast<size_t>(chunks));
  pool.parallel_for(chunks, [&](int64_t c) {
    const size_t at = static_cast<size_t>(c) * chunk;
    h[static_cast<size_t>(c)] = hash_bytes(p + at, std::min(chunk, n - at), 0x48425838);
  });
  return hash_bytes(h.data(), h.size() * sizeof(uint64_t), n);
}

std::string hex64(uint64_t v) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
  return b;
}

// Repacks every matrix whose kernels have an 8-row form (kernels.h) into that layout, one matrix
// at a time on the pool, then drops the mapped pages of the original so the weights are not
// resident twice (peak: the file plus one matrix). The token embedding stays in place: its rows
// are looked up one by one. When the output matrix is tied to it, the output gets a packed copy
// of its own and the embedding's pages are released too: lookups fault back in (from the file)
// only the rows they read. With a cache folder, a valid cache file is mapped instead, and a
// fresh packing is written there.
void pack_weights(Model::Impl& m, const std::string& cache_dir) {
  std::vector<MatWeight*> mats;
  for (LayerWeights& L : m.layers) {
    for (MatWeight* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down, &L.gate_inp})
      if (w->tensor) mats.push_back(w);
    for (std::vector<MatWeight>* exps : {&L.gate_exps, &L.up_exps, &L.down_exps})
      for (MatWeight& w : *exps) mats.push_back(&w);
  }
  mats.push_back(&m.output);  // tied: m.output is its own MatWeight over the embedding's rows
  const auto packable = [](const MatWeight* w) { return w->kernels->gemm_x8 && has_x8_layout(w->type) && w->rows % 8 == 0; };
  // One buffer for all of them, each matrix at a 64-byte aligned offset (huge pages per matrix
  // would round every small one, the K and V projections, up to 2 MiB). The same layout is what
  // a cache file holds.
  struct Slot {
    MatWeight* w;
    size_t group_bytes, offset;
  };
  std::vector<Slot> slots;
  uint64_t arena_bytes = 0;
  for (MatWeight* w : mats) {
    if (!packable(w)) continue;
    const size_t group_bytes = x8_group_bytes(w->type, w->n);
    slots.push_back({w, group_bytes, static_cast<size_t>(arena_bytes)});
    arena_bytes += (group_bytes * static_cast<uint64_t>(w->rows / 8) + 63) / 64 * 64;
  }
  const uint64_t n_packed = slots.size();
  if (arena_bytes == 0) {
    if (!cache_dir.empty()) m.pack_cache_status = "not used: no matrix has a packed layout for the active kernels";
    return;
  }
  const MappedFile* source = m.gguf->file();
  const uint64_t source_size = m.gguf->file_size();
  // The original's mapped pages leave RAM (they are read again only if something faults them in).
  const auto release_original = [&](const Slot& sl) {
    if (source) source->release(sl.w->data, sl.w->row_bytes * static_cast<size_t>(sl.w->rows));
  };
  const auto bind = [&](const uint8_t* arena) {
    for (const Slot& sl : slots) {
      sl.w->data = arena + sl.offset;
      sl.w->packed = true;
      sl.w->group_bytes = sl.group_bytes;
    }
  };

  std::string cache_path, stale;
  if (!cache_dir.empty()) {
    cache_path = cache_dir + "/" + hex64(m.fingerprint) + "-" + hex64(arena_bytes) + ".hbx8";
    try {
      std::unique_ptr<MappedFile> f = MappedFile::open(cache_path);
      PackHeader h{};
      if (f->size() >= kPackHeaderBytes) std::memcpy(&h, f->data(), sizeof h);
      const bool header_ok = f->size() == kPackHeaderBytes + arena_bytes && std::memcmp(h.magic, kPackMagic, 8) == 0 &&
                             h.format == kPackFormat && h.header_bytes == kPackHeaderBytes && h.layout == kPackLayoutVersion &&
                             h.fingerprint == m.fingerprint && h.source_size == source_size &&
                             h.arena_bytes == arena_bytes && h.matrices == n_packed;
      if (header_ok && hash_parallel(*m.pool, f->data() + kPackHeaderBytes, static_cast<size_t>(arena_bytes)) == h.arena_hash) {
        for (const Slot& sl : slots) release_original(sl);
        bind(f->data() + kPackHeaderBytes);
        m.pack_cache = std::move(f);
        m.packed_mapped = arena_bytes;
        m.pack_cache_status = "loaded " + cache_path;
        return;
      }
      stale = header_ok ? "its contents do not match their checksum" : "its header does not match this model";
    } catch (const Error& e) {
      if (e.code() != "FILE_NOT_FOUND") stale = e.what();
    }
  }

  // The copies are anonymous memory, which only swap can page out, while the file's pages can
  // always be dropped: when they would not fit in what the system can give, keep the weights in
  // place (slower, but a model larger than RAM still runs) and say why.
  const uint64_t available = platform::available_memory();
  if (available > 0 && arena_bytes > available) {
    m.pack_skipped = "the packed copy needs " + platform::format_bytes(arena_bytes) + " and the system has " +
                     platform::format_bytes(available) + " available";
    return;
  }
  uint8_t* arena = platform::alloc_large(static_cast<size_t>(arena_bytes));
  if (!arena) fail("OUT_OF_MEMORY", "Could not allocate " + platform::format_bytes(arena_bytes) + " to repack the weights");
  AlignedBytes buf;
  buf.ptr = std::unique_ptr<uint8_t, AlignedBytes::Free>(arena, AlignedBytes::Free{static_cast<size_t>(arena_bytes)});
  buf.size = static_cast<size_t>(arena_bytes);
  m.packed.push_back(std::move(buf));
  for (const Slot& sl : slots) {
    const MatWeight* w = sl.w;
    const int64_t groups = w->rows / 8, per_task = 64;
    uint8_t* dst = arena + sl.offset;
    m.pool->parallel_for((groups + per_task - 1) / per_task, [&](int64_t task) {
      for (int64_t g = task * per_task; g < std::min(groups, (task + 1) * per_task); g++)
        pack_rows_x8(w->type, w->data + static_cast<size_t>(g) * 8 * w->row_bytes, w->row_bytes, w->n,
                     dst + static_cast<size_t>(g) * sl.group_bytes);
    });
    release_original(sl);  // as soon as its copy exists, so the peak stays near the file size
  }
  bind(arena);
  if (cache_path.empty()) return;

  // Written under a temporary name and renamed, so a reader never sees half a file (not synced
  // to disk: after a crash a torn file fails its checksum and is rewritten); any failure
  // (a read-only folder, a full disk) leaves the load as it is and says why.
  PackHeader h{};
  std::memcpy(h.magic, kPackMagic, 8);
  h.format = kPackFormat;
  h.header_bytes = kPackHeaderBytes;
  h.layout = kPackLayoutVersion;
  h.fingerprint = m.fingerprint;
  h.source_size = source_size;
  h.arena_bytes = arena_bytes;
  h.matrices = n_packed;
  h.arena_hash = hash_parallel(*m.pool, arena, static_cast<size_t>(arena_bytes));
  std::vector<uint8_t> header(kPackHeaderBytes, 0);
  std::memcpy(header.data(), &h, sizeof h);
  const std::string tmp = cache_path + ".tmp-" + std::to_string(platform::process_id());
  std::FILE* f = platform::create_file(tmp);
  std::string why;
  if (!f) why = "cannot create " + tmp + ": " + std::strerror(errno);
  else {
    bool ok = std::fwrite(header.data(), 1, header.size(), f) == header.size() &&
              std::fwrite(arena, 1, static_cast<size_t>(arena_bytes), f) == arena_bytes;
    if (std::fclose(f) != 0) ok = false;
    if (!ok) why = "cannot write " + tmp + " (" + platform::format_bytes(kPackHeaderBytes + arena_bytes) + ")";
    else if (!platform::replace_file(tmp, cache_path)) why = "cannot rename " + tmp + " to " + cache_path;
  }
  if (!why.empty()) {
    platform::remove_file(tmp);
    m.pack_cache_status = "not written: " + why;
  } else {
    m.pack_cache_status = (stale.empty() ? "written " : "stale (" + stale + "), rewritten ") + cache_path;
  }
}

}  // namespace

uint64_t hash_bytes(const void* data, size_t n, uint64_t seed) {
  const uint64_t k1 = 0x9E3779B97F4A7C15ull, k2 = 0xC2B2AE3D27D4EB4Full;
  auto mix = [&](uint64_t h, uint64_t w) {
    h ^= w * k2;
    h = (h << 31) | (h >> 33);
    return h * k1;
  };
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint64_t lane[4] = {seed ^ k1, seed + k2, seed * k1 + 1, ~seed};
  size_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int l = 0; l < 4; l++) {
      uint64_t w;
      std::memcpy(&w, p + i + 8 * l, 8);
      lane[l] = mix(lane[l], w);
    }
  uint64_t h = mix(mix(mix(mix(static_cast<uint64_t>(n), lane[0]), lane[1]), lane[2]), lane[3]);
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = mix(h, w);
  }
  uint64_t tail = 0;
  for (size_t j = 0; i + j < n; j++) tail |= static_cast<uint64_t>(p[i + j]) << (8 * j);
  h = mix(h, tail ^ 0xFF);
  h ^= h >> 29;
  h *= k1;
  return h ^ (h >> 32);
}

Model::Model() : impl_(new Impl) {}
Model::~Model() = default;

std::unique_ptr<Model> Model::load(const std::string& path, const LoadOptions& opts) {
  return from_gguf(GgufFile::open(path, opts.vocab_only), opts);
}

std::unique_ptr<Model> Model::from_gguf(std::unique_ptr<GgufFile> gguf, const LoadOptions& opts) {
  if (!gguf) fail("INVALID_ARGUMENT", "Expected a parsed GGUF file but received none");
  std::unique_ptr<Model> model(new Model());
  Impl& m = *model->impl_;
  m.vocab_only = opts.vocab_only;
  m.gguf = std::move(gguf);
  const GgufFile& g = *m.gguf;

  m.hp.arch = g.get_string("general.architecture");
  m.hp.spec = find_arch(m.hp.arch);
  if (!m.hp.spec && !opts.vocab_only)
    fail("UNSUPPORTED_ARCHITECTURE",
         "Unsupported model architecture \"" + m.hp.arch + "\" (supported: " + supported_architectures() + ")");
  read_hparams(g, m.hp, opts.vocab_only);
  if (!opts.vocab_only) resolve_arch_config(g, m.hp);

  m.tokenizer = Tokenizer::from_gguf(g);
  m.hp.n_vocab = m.tokenizer->n_vocab();

  if (opts.threads < 0)
    fail("INVALID_ARGUMENT", "Expected a thread count >= 0 but received " + std::to_string(opts.threads));
  m.n_threads = std::min(opts.threads > 0 ? opts.threads : ThreadPool::default_threads(), 512);
  if (opts.vocab_only) return model;

  if (m.hp.n_vocab <= 0) fail("GGUF_BAD_METADATA", "Expected a non-empty vocabulary but received none");
  bind_weights(m);

  // Page the weights in now (with progress), so the first decode does not stall on faults.
  if (const MappedFile* f = g.file()) {
    const uint64_t begin = g.data_offset, end = g.file_size();
    const uint64_t total = end > begin ? end - begin : 0;
    bool go_on = true;
    if (opts.progress) go_on = opts.progress(0, total);
    if (go_on)
      go_on = f->prefetch(static_cast<size_t>(begin), static_cast<size_t>(end), [&](size_t done) {
        return opts.progress ? opts.progress(done, total) : true;
      });
    if (!go_on) fail("ABORTED", "Model load was cancelled");
  }

  m.fingerprint = model_fingerprint(g);
  m.pool.reset(new ThreadPool(m.n_threads));
  if (opts.pack_weights) pack_weights(m, opts.pack_cache_dir);
  return model;
}

const HParams& Model::hparams() const { return impl_->hp; }
const Tokenizer& Model::tokenizer() const { return *impl_->tokenizer; }
const GgufFile& Model::gguf() const { return *impl_->gguf; }
bool Model::vocab_only() const { return impl_->vocab_only; }
int Model::threads() const { return impl_->n_threads; }

const std::string& Model::pack_skipped() const { return impl_->pack_skipped; }
const std::string& Model::pack_cache_status() const { return impl_->pack_cache_status; }

uint64_t Model::packed_bytes() const {
  uint64_t sum = 0;
  for (const AlignedBytes& b : impl_->packed) sum += b.size;
  sum += impl_->packed_mapped;
  return sum;
}

std::map<std::string, int> Model::tensor_type_counts() const {
  std::map<std::string, int> counts;
  for (const GgufTensor& t : impl_->gguf->tensors) counts[type_name_of(t)]++;
  return counts;
}

}  // namespace hb
