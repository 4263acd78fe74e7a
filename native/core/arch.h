// One description per supported architecture (the table in arch.cpp), and the per-model,
// per-layer configuration resolved from it and the file's metadata. The loader and the forward
// pass read these; nothing else looks at the architecture's name.
//
// Adding an architecture: a table entry in arch.cpp (plus any key it reads in resolve_config),
// any new operation in ops.* with its test, a fixture from scripts/make-arch-fixture.mjs, and
// llama.cpp's references for the parity test.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace hb {

class GgufFile;
struct HParams;

enum class RopeStyle : uint8_t {
  Normal,  // rotate pairs (2i, 2i+1)
  Neox,    // rotate pairs (i, i + rope_dim/2)
};

enum class FfnActivation : uint8_t {
  SiluGated,      // silu(gate) * up
  GeluTanhGated,  // gelu_tanh(gate) * up (Gemma)
};

enum class QkNorm : uint8_t {
  None,
  PerHead,  // RMSNorm of each head's q and k (weights of head_dim), before rope (Qwen3, Gemma 3)
  Whole,    // RMSNorm of the whole q and k vectors (weights of n_embd), before rope (OLMoE)
};

enum class ExpertGating : uint8_t { Softmax, Sigmoid };

// Rope of sliding-window layers: the same as the global layers', the global one with the base
// from rope.freq_base_swa if present (Gemma 2), or its own (Gemma 3: base rope.freq_base_swa,
// default 10000, and no scaling).
enum class SwaRope : uint8_t { None, SameAsGlobal, Own };

// One row of the table. Every architecture takes fused attn_qkv in place of attn_q/k/v, and
// optional attn_q/k/v biases, as llama.cpp does.
struct ArchSpec {
  const char* name = "";
  RopeStyle rope = RopeStyle::Normal;
  FfnActivation ffn = FfnActivation::SiluGated;
  QkNorm qk_norm = QkNorm::None;
  // RMSNorm of the attention and FFN outputs before each residual add (post_attention_norm,
  // post_ffw_norm; Gemma 2/3).
  bool post_norms = false;
  // x *= sqrt(n_embd) after the embedding lookup (Gemma).
  bool scale_embeddings = false;
  // ffn_up holds [gate; up] and there is no ffn_gate (Phi-3).
  bool fused_gate_up = false;
  // Mixture-of-experts layers (ffn_gate_inp, ffn_{gate,up,down}_exps) when expert_count > 0.
  bool experts = false;
  bool expert_weights_norm = false;  // renormalize the chosen experts' weights to sum 1
  bool expert_ff_key = false;        // expert width from expert_feed_forward_length (else n_ff)
  // Sliding-window layers: every `swa_period`-th layer (il % period == period - 1) is global,
  // the others see the last <arch>.attention.sliding_window positions (default
  // swa_default_window; 0: only when the key is present). swa_period 0: never.
  int swa_period = 0;
  int64_t swa_default_window = 0;
  SwaRope swa_rope = SwaRope::None;
  // Soft-caps (<arch>.attn_logit_softcapping, final_logit_softcapping) and their defaults; an
  // architecture that reads the final one's key may leave it off by default (0).
  float attn_softcap_default = 0.0f;
  bool reads_final_softcap = false;
  float final_softcap_default = 0.0f;
  // q *= attention scale after rope, then attention with scale 1 (Gemma, Phi-3), instead of
  // scaling the scores. The scale is 1/sqrt(head_dim), or 1/sqrt(n_embd / n_head) for the
  // Gemma size with gemma_scale_layers layers (27B), as llama.cpp decides it.
  bool scale_q = false;
  int64_t gemma_scale_layers = 0;
  // rope_factors_long / rope_factors_short (Phi-3 LongRoPE, or llama with rope.scaling.type
  // "longrope").
  bool longrope = false;
};

// The table entry for `arch`, or nullptr.
const ArchSpec* find_arch(const std::string& arch);
// "llama, qwen2, ..." for error messages.
std::string supported_architectures();

// One rope variant (a model has one, or two when sliding-window layers have their own).
struct RopeConfig {
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;  // 1 / factor for linear and YaRN scaling
  // YaRN (ggml's rope_yarn): ext_factor 0 means plain rope.
  float ext_factor = 0.0f;
  float attn_factor = 1.0f;  // multiplies cos and sin
  float beta_fast = 32.0f, beta_slow = 1.0f;
  int64_t n_ctx_orig = 0;    // original training context (YaRN, LongRoPE)
  // Per-pair divisors of theta: none, the model's rope_freqs (Llama 3.1), or LongRoPE's long or
  // short factors chosen by the context size.
  enum class Factors : uint8_t { None, RopeFreqs, LongRope } factors = Factors::None;
};

struct LayerConfig {
  int64_t window = 0;  // 0: full causal attention; W: sees positions pos-W+1 .. pos
  int rope = 0;        // index into HParams::ropes
  bool moe = false;
};

// Fills hp's rope, attention, expert and per-layer configuration from hp.spec and the file's
// metadata (hp's shapes already read). Throws GGUF_BAD_METADATA, UNSUPPORTED_ARCHITECTURE.
void resolve_arch_config(const GgufFile& g, HParams& hp);

}  // namespace hb
