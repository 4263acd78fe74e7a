// Model internals shared by model.cpp (loading, binding) and context.cpp (forward pass).
// Not part of the public interface.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "model.h"
#include "quant/kernels.h"
#include "threadpool.h"

namespace hb {

// A matrix bound in place from the mapping: `rows` rows of `n` elements each
// (GGUF ne = [n, rows]); row r starts at data + r * row_bytes. When `packed`, data is a copy in
// the 8-row interleaved layout instead (kernels.h, pack_rows_x8): rows 8g .. 8g+7 start at
// data + g * group_bytes and are multiplied with kernels->gemm_x8.
struct MatWeight {
  const GgufTensor* tensor = nullptr;
  const uint8_t* data = nullptr;
  GgmlType type = GgmlType::F32;
  const TypeKernels* kernels = nullptr;
  int64_t n = 0;
  int64_t rows = 0;
  size_t row_bytes = 0;
  bool packed = false;
  size_t group_bytes = 0;  // packed: bytes per 8-row group (x8_group_bytes)
  // The rows in the file's GGUF layout (in the mapping), packed or not: what a device backend
  // uploads (backend.h).
  const uint8_t* gguf_data = nullptr;
};

// Heap bytes, 64-byte aligned (packed weights).
// A buffer from platform::alloc_large (packed weights).
struct AlignedBytes {
  struct Free {
    size_t size;  // no initializer: that would keep unique_ptr from default-constructing Free here
    void operator()(uint8_t* p) const;
  };
  std::unique_ptr<uint8_t, Free> ptr;
  size_t size = 0;
};

// A vector (norm weights, biases) as floats: in place when the file stores F32, otherwise
// dequantized once at load into `owned` (these are tiny).
struct VecWeight {
  const float* data = nullptr;
  int64_t n = 0;
  std::vector<float> owned;
};

struct LayerWeights {
  VecWeight attn_norm;  // (n_embd,)
  // (n_head * head_dim, n_embd), (n_head_kv * head_dim, n_embd) x2: separate tensors, or row
  // views of one fused attn_qkv (Q | K | V rows).
  MatWeight wq, wk, wv;
  VecWeight bq, bk, bv;  // optional: (n_head * head_dim,), (n_head_kv * head_dim,) x2
  // Optional, per the architecture: (head_dim,) per head, or (n_q,), (n_kv,) over whole vectors.
  VecWeight q_norm, k_norm;
  MatWeight wo;               // (n_embd, n_head * head_dim)
  VecWeight attn_post_norm;   // optional (n_embd,): normalizes the attention output (Gemma)
  VecWeight ffn_norm;         // (n_embd,)
  // Dense FFN: (n_ff, n_embd) x2, (n_embd, n_ff); gate and up may be row views of one fused
  // ffn_up ([gate; up], Phi-3).
  MatWeight w_gate, w_up, w_down;
  VecWeight ffn_post_norm;    // optional (n_embd,) (Gemma)
  // Mixture of experts: router (n_expert, n_embd), and per expert e a view of the 3-D tensors:
  // gate/up (n_ff_exp, n_embd), down (n_embd, n_ff_exp).
  MatWeight gate_inp;
  std::vector<MatWeight> gate_exps, up_exps, down_exps;
};

struct Model::Impl {
  std::unique_ptr<GgufFile> gguf;
  HParams hp;
  std::unique_ptr<Tokenizer> tokenizer;
  bool vocab_only = false;
  int n_threads = 1;
  std::unique_ptr<ThreadPool> pool;  // shared by every Context of this model; it serializes callers

  MatWeight tok_embd;     // (n_vocab, n_embd): rows are embeddings
  VecWeight output_norm;  // (n_embd,)
  MatWeight output;       // (n_vocab, n_embd); the same as tok_embd when tied
  bool tied_output = false;
  VecWeight rope_freqs;   // optional (rope_dim / 2,): per-pair divisors of theta (Llama 3.1)
  VecWeight rope_long, rope_short;  // optional (rope_dim / 2,): LongRoPE's divisors past / within the original context
  std::vector<LayerWeights> layers;
  // Matrices repacked at load into the 8-row layout (see MatWeight).
  std::vector<AlignedBytes> packed;
  std::string pack_skipped;  // why packing was skipped (see pack_weights)
  std::unique_ptr<MappedFile> pack_cache;  // the mapped cache file the packed weights point into
  uint64_t packed_mapped = 0;              // bytes of packed weights in it
  std::string pack_cache_status;
  // Tells model files apart cheaply (session files record it): a hash of the file size, the
  // header (metadata + tensor table) and a few bytes from the start, middle and end of every tensor.
  uint64_t fingerprint = 0;
};

// 64-bit hash of bytes [data, data + n), seeded (not cryptographic; four independent lanes so
// it runs near memory speed). Used for model fingerprints and session file checksums.
uint64_t hash_bytes(const void* data, size_t n, uint64_t seed);

}  // namespace hb
