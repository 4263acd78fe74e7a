// LLaMA-family model: hyperparameters and weights bound in place from a GGUF mapping, and the
// per-sequence Context (KV cache + scratch) that runs the forward pass.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "arch.h"
#include "ggml_types.h"
#include "gguf.h"
#include "tokenizer.h"

namespace hb {

class ThreadPool;

struct HParams {
  std::string arch;         // general.architecture (a name in the arch.cpp table)
  const ArchSpec* spec = nullptr;  // its table entry (null only for vocabulary-only loads)
  std::string name;         // general.name or ""
  int64_t n_ctx_train = 0;  // <arch>.context_length
  int64_t n_embd = 0;       // model dimension
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;     // n_embd / n_head unless <arch>.attention.key_length says otherwise
  int64_t n_ff = 0;
  int64_t n_vocab = 0;
  float rms_eps = 1e-5f;
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / <arch>.rope.scaling.factor for linear scaling
  int64_t rope_dim = 0;          // rotated dimensions per head (<arch>.rope.dimension_count or head_dim)
  bool rope_neox = false;        // rotate pairs (i, i + rope_dim/2) instead of (2i, 2i+1)
  uint32_t file_type = 0;        // general.file_type, if present

  // Resolved from the architecture's table entry and the metadata (arch.cpp):
  std::vector<RopeConfig> ropes;        // [0]: global layers; [1]: sliding-window layers' own, if any
  std::vector<LayerConfig> layer_cfg;   // (n_layer,)
  int64_t n_swa = 0;                    // sliding window (0: none)
  float attn_scale = 1.0f;              // 1/sqrt(head_dim) unless the architecture says otherwise
  bool scale_q = false;                 // applied to q after rope (else to the scores)
  float attn_softcap = 0.0f;            // scores = cap * tanh(scores / cap); 0: off
  float final_softcap = 0.0f;           // the same on the logits
  float embd_scale = 1.0f;              // embeddings *= this after the lookup
  int64_t n_expert = 0, n_expert_used = 0, n_ff_exp = 0;
  bool expert_weights_norm = false;
  ExpertGating expert_gating = ExpertGating::Softmax;
};

struct LoadOptions {
  int threads = 0;          // 0: physical core count
  bool vocab_only = false;  // tokenizer only; tensors are not required
  // Copy Q4_0 / Q8_0 / Q4_K matrices into the 8-row interleaved layout when the active ISA has kernels
  // for it (faster decode and prefill; costs no extra memory once the mapped pages are released,
  // but the copies are private to this process instead of shared file pages).
  bool pack_weights = true;
  // A folder for packed-layout cache files (empty: none). The first load with it writes the
  // packed copy there (`<fingerprint>.hbx8`); later loads of the same file map that instead of
  // packing again: no copy, no fresh memory, the page cache shares it between processes.
  std::string pack_cache_dir;
  // Called with (done_bytes, total_bytes) while weights are paged in; return false to cancel
  // (load then throws hb::Error("ABORTED")).
  std::function<bool(uint64_t, uint64_t)> progress;
};

class Model {
 public:
  // Throws hb::Error: FILE_NOT_FOUND, GGUF_* (malformed file), UNSUPPORTED_ARCHITECTURE,
  // UNSUPPORTED_TENSOR_TYPE, MISSING_TENSOR, TENSOR_SHAPE_MISMATCH, ABORTED ...
  static std::unique_ptr<Model> load(const std::string& path, const LoadOptions& opts);
  // The same from a parsed file (GgufFile::parse over bytes the caller keeps alive as long as
  // the model): for the fuzzers, which build models in memory.
  static std::unique_ptr<Model> from_gguf(std::unique_ptr<GgufFile> gguf, const LoadOptions& opts);
  ~Model();

  const HParams& hparams() const;
  const Tokenizer& tokenizer() const;
  const GgufFile& gguf() const;
  bool vocab_only() const;
  int threads() const;
  // Tensor type name -> count of tensors of that type (for model.info).
  std::map<std::string, int> tensor_type_counts() const;
  // Bytes of weights held in the 8-row layout (0 if none were packed).
  uint64_t packed_bytes() const;
  // Why pack_weights was asked for and not done (empty when it was, or was not asked for).
  const std::string& pack_skipped() const;
  // What the pack cache did: "" (not asked for), "loaded PATH", "written PATH", or why not
  // ("not written: ...", "stale, rewritten: ...").
  const std::string& pack_cache_status() const;

  struct Impl;
  Impl* impl() const { return impl_.get(); }

 private:
  Model();
  std::unique_ptr<Impl> impl_;
};

// One sequence's state. Not thread-safe: one user at a time (the addon guards it).
class Context {
 public:
  // n_ctx: KV cache capacity in tokens (0: min(model context length, 4096)). Sliding-window
  // layers keep only the positions their window can reach (kv_cache.h) unless full_windows.
  // rope_n_ctx: the context size the caller presents, when it allocates less than that (0:
  // n_ctx); LongRoPE models choose their long or short factors by it, as llama.cpp does by its
  // context size.
  Context(const Model& model, int64_t n_ctx, bool full_windows = false, int64_t rope_n_ctx = 0);
  ~Context();

  int64_t n_ctx() const;
  int64_t n_past() const;  // tokens currently in the KV cache
  // Drops cached tokens from position n onward (n <= n_past) and returns how many are kept: n,
  // or 0 when a sliding-window layer no longer holds the window position n needs (its ring
  // has moved past it); the caller then evaluates from there.
  int64_t truncate(int64_t n);

  // Work counters since creation (tests and benchmarks): expert matrix products run and the
  // weight bytes they read.
  struct Stats {
    uint64_t expert_products = 0;
    uint64_t expert_bytes = 0;
  };
  const Stats& stats() const;
  // Bytes of the KV cache.
  size_t kv_bytes() const;

  // Runs tokens[0..n) at positions n_past .. n_past+n-1, appending them to the KV cache.
  // logits: if all_logits, n rows of n_vocab floats (token order); else only the last row.
  // Throws CONTEXT_FULL if n_past + n > n_ctx, TOKEN_OUT_OF_RANGE for a bad id, ABORTED if
  // *cancel became true (checked between layers; the cache is then rolled back to n_past).
  void decode(const int32_t* tokens, int64_t n, bool all_logits, std::vector<float>& logits,
              const std::atomic<bool>* cancel = nullptr);

  // Like decode(), but returns the final hidden states (after the output norm, before the
  // output matrix) of every token: hidden = n rows of n_embd floats, token order. The tokens are
  // appended to the KV cache as with decode(); same errors.
  void decode_hidden(const int32_t* tokens, int64_t n, std::vector<float>& hidden,
                     const std::atomic<bool>* cancel = nullptr);

  // One new token for each of n_seqs contexts of the same Model, evaluated together: every
  // weight matrix is read once for all of them, each sequence attends to its own KV cache at its
  // own position. logits: n_seqs rows of n_vocab floats. Results are bit-identical to calling
  // decode() on each context with its token. All or nothing: on any error no context changes
  // (n_past). No context may be in use elsewhere during the call. Throws INVALID_ARGUMENT (no contexts, null, repeated, or from another model), CONTEXT_FULL,
  // TOKEN_OUT_OF_RANGE, ABORTED (cancel checked between layers).
  static void decode_batch(Context* const* contexts, const int32_t* tokens, int64_t n_seqs, std::vector<float>& logits,
                           const std::atomic<bool>* cancel = nullptr);

  // Session files: writes `magic`, a format version, the model's fingerprint (architecture,
  // shapes, file size and a hash of its header and samples of every tensor), n_past, the token
  // ids and the written part of the KV cache (n_past positions per layer), then a checksum.
  // The file appears at `path` only once complete (written to a temporary file, then renamed).
  // Throws INVALID_ARGUMENT if tokens.size() != n_past or magic is not 1..256 bytes,
  // FILE_WRITE_ERROR.
  void save_state(const std::string& path, const std::string& magic, const std::vector<int32_t>& tokens) const;
  // Restores a file written by save_state (with the same magic) and returns its tokens. Throws
  // FILE_NOT_FOUND, FILE_READ_ERROR, STATE_BAD_FILE (not such a file, wrong magic, unknown
  // version, truncated, corrupt), STATE_MODEL_MISMATCH (saved with another model file),
  // CONTEXT_FULL (more tokens than this context holds). On any failure the context is left
  // empty (n_past 0).
  std::vector<int32_t> load_state(const std::string& path, const std::string& magic);

  struct Impl;
  Impl* impl() const { return impl_.get(); }  // internals (backend.h seam, tests)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace hb
