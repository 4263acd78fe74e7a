// The architecture table, and the resolution of a file's metadata into HParams' per-model and
// per-layer configuration (what llama.cpp's loader and context decide for the same file).
#include "arch.h"

#include <cmath>

#include "error.h"
#include "model.h"

namespace hb {

namespace {

ArchSpec make(const char* name) {
  ArchSpec s;
  s.name = name;
  return s;
}

const std::vector<ArchSpec>& table() {
  static const std::vector<ArchSpec> specs = [] {
    std::vector<ArchSpec> t;
    {  // LLaMA 1/2/3, Mistral, TinyLlama; Mixtral when expert_count > 0
      ArchSpec s = make("llama");
      s.experts = true;
      s.expert_weights_norm = true;
      s.longrope = true;  // only when rope.scaling.type is "longrope"
      t.push_back(s);
    }
    {
      ArchSpec s = make("qwen2");
      s.rope = RopeStyle::Neox;
      t.push_back(s);
    }
    {
      ArchSpec s = make("qwen3");
      s.rope = RopeStyle::Neox;
      s.qk_norm = QkNorm::PerHead;
      t.push_back(s);
    }
    {
      ArchSpec s = make("qwen3moe");
      s.rope = RopeStyle::Neox;
      s.qk_norm = QkNorm::PerHead;
      s.experts = true;
      s.expert_weights_norm = true;
      s.expert_ff_key = true;
      t.push_back(s);
    }
    {
      ArchSpec s = make("olmoe");
      s.rope = RopeStyle::Neox;
      s.qk_norm = QkNorm::Whole;
      s.experts = true;
      s.expert_weights_norm = false;
      t.push_back(s);
    }
    {
      ArchSpec s = make("gemma2");
      s.rope = RopeStyle::Neox;
      s.ffn = FfnActivation::GeluTanhGated;
      s.post_norms = true;
      s.scale_embeddings = true;
      s.swa_period = 2;
      s.swa_default_window = 4096;
      s.swa_rope = SwaRope::SameAsGlobal;
      s.attn_softcap_default = 50.0f;
      s.reads_final_softcap = true;
      s.final_softcap_default = 30.0f;
      s.scale_q = true;
      s.gemma_scale_layers = 46;  // 27B: 1/sqrt(n_embd / n_head)
      t.push_back(s);
    }
    {
      ArchSpec s = make("gemma3");
      s.rope = RopeStyle::Neox;
      s.ffn = FfnActivation::GeluTanhGated;
      s.qk_norm = QkNorm::PerHead;
      s.post_norms = true;
      s.scale_embeddings = true;
      s.swa_period = 6;
      s.swa_rope = SwaRope::Own;
      s.reads_final_softcap = true;  // off unless the file sets it
      s.scale_q = true;
      s.gemma_scale_layers = 62;
      t.push_back(s);
    }
    {  // Phi-3, Phi-3.5, Phi-4-mini (their sliding window is ignored, as llama.cpp does)
      ArchSpec s = make("phi3");
      s.rope = RopeStyle::Neox;
      s.fused_gate_up = true;
      s.scale_q = true;
      s.longrope = true;
      t.push_back(s);
    }
    return t;
  }();
  return specs;
}

// <arch>.<key> as a positive integer within [1, max], or `fallback` if absent.
int64_t int_key(const GgufFile& g, const std::string& key, int64_t fallback, int64_t max) {
  if (!g.find(key)) return fallback;
  const uint64_t v = g.get_u64(key);
  if (v == 0 || v > static_cast<uint64_t>(max))
    fail("GGUF_BAD_METADATA", "Expected " + key + " between 1 and " + std::to_string(max) + " but received " +
                                  std::to_string(v));
  return static_cast<int64_t>(v);
}

float float_key(const GgufFile& g, const std::string& key, double fallback, double lo, double hi) {
  const double v = g.get_f64_or(key, fallback);
  if (!(v >= lo && v <= hi))
    fail("GGUF_BAD_METADATA", "Expected " + key + " between " + std::to_string(lo) + " and " + std::to_string(hi) +
                                  " but received " + std::to_string(v));
  return static_cast<float>(v);
}

}  // namespace

const ArchSpec* find_arch(const std::string& arch) {
  for (const ArchSpec& s : table())
    if (arch == s.name) return &s;
  return nullptr;
}

std::string supported_architectures() {
  std::string out;
  for (const ArchSpec& s : table()) out += (out.empty() ? "" : ", ") + std::string(s.name);
  return out;
}

void resolve_arch_config(const GgufFile& g, HParams& hp) {
  const ArchSpec& s = *hp.spec;
  const std::string& a = hp.arch;

  // Rope scaling, as llama.cpp's loader and context settle it: "linear" (the default type) and
  // "none" divide positions by the factor (none: never), "yarn" also mixes in extrapolation,
  // "longrope" takes its per-pair factors from rope_factors_long/short.
  RopeConfig global;
  global.freq_base = hp.rope_freq_base;
  const std::string scaling = g.get_string_or(a + ".rope.scaling.type", "linear");
  double factor = g.get_f64_or(a + ".rope.scaling.factor", g.get_f64_or(a + ".rope.scale_linear", 0.0));
  if (factor == 0) factor = 1.0;  // 0 means "not set"
  if (!(factor > 0 && std::isfinite(factor)))
    fail("GGUF_BAD_METADATA", "Expected a positive rope scaling factor for " + a + " but received " +
                                  std::to_string(factor));
  global.freq_scale = static_cast<float>(1.0 / factor);
  global.n_ctx_orig = int_key(g, a + ".rope.scaling.original_context_length", hp.n_ctx_train, int64_t(1) << 30);
  global.attn_factor = float_key(g, a + ".rope.scaling.attn_factor", 1.0, 1e-3, 1e3);
  if (scaling == "none") {
    global.freq_scale = 1.0f;
  } else if (scaling == "yarn") {
    global.ext_factor = 1.0f;
    const float f = 1.0f / global.freq_scale;
    // llama.cpp's attention factor 0.1 ln(f) + 1, cancelled by the same term that ggml's rope
    // multiplies in again (both kept so the floats round alike).
    const float mscale = f <= 1.0f ? 1.0f : 0.1f * std::log(f) + 1.0f;
    global.attn_factor = mscale * (1.0f / (1.0f + 0.1f * std::log(f))) * global.attn_factor;
  } else if (scaling == "longrope") {
    if (!s.longrope)
      fail("UNSUPPORTED_ARCHITECTURE", "Rope scaling type \"longrope\" is not supported for " + a);
    global.freq_scale = 1.0f;
  } else if (scaling != "linear") {
    fail("UNSUPPORTED_ARCHITECTURE", "Rope scaling type \"" + scaling + "\" of this " + a +
                                         " model is not supported (supported: none, linear, yarn, longrope)");
  }
  hp.rope_freq_scale = global.freq_scale;
  hp.rope_neox = s.rope == RopeStyle::Neox;
  hp.ropes.assign(1, global);

  // Sliding window: gemma2 always (default 4096), gemma3 when the key is there and positive.
  hp.n_swa = 0;
  if (s.swa_period > 0) {
    const std::string key = a + ".attention.sliding_window";
    hp.n_swa = g.find(key) ? static_cast<int64_t>(g.get_u64(key)) : s.swa_default_window;
    if (hp.n_swa < 0 || hp.n_swa > (int64_t(1) << 30))
      fail("GGUF_BAD_METADATA", "Expected " + key + " below 2^30 but received " + std::to_string(hp.n_swa));
  }
  int64_t period = s.swa_period;
  if (hp.n_swa > 0) {
    const std::string key = a + ".attention.sliding_window_pattern";
    const GgufValue* v = g.find(key);
    if (v && !v->is_array()) period = int_key(g, key, period, 1 << 20);  // arrays are ignored, as by llama.cpp
    if (s.swa_rope != SwaRope::None) {
      RopeConfig local = global;
      if (s.swa_rope == SwaRope::Own) {
        local.freq_base = 10000.0f;
        local.freq_scale = 1.0f;
        local.ext_factor = 0.0f;
      }
      local.freq_base = float_key(g, a + ".rope.freq_base_swa", local.freq_base, 1.0000001, 1e30);
      hp.ropes.push_back(local);
    }
  }

  // Attention scale and soft-caps.
  hp.attn_scale = 1.0f / std::sqrt(static_cast<float>(hp.head_dim));
  if (s.gemma_scale_layers && hp.n_layer == s.gemma_scale_layers)
    hp.attn_scale = 1.0f / std::sqrt(static_cast<float>(hp.n_embd / hp.n_head));
  hp.scale_q = s.scale_q;
  hp.attn_softcap = 0.0f;
  hp.final_softcap = 0.0f;
  if (s.attn_softcap_default > 0)
    hp.attn_softcap = float_key(g, a + ".attn_logit_softcapping", s.attn_softcap_default, 1e-3, 1e6);
  if (s.reads_final_softcap)
    hp.final_softcap = float_key(g, a + ".final_logit_softcapping", s.final_softcap_default, 0, 1e6);
  hp.embd_scale = s.scale_embeddings ? std::sqrt(static_cast<float>(hp.n_embd)) : 1.0f;

  // Experts.
  hp.n_expert = 0;
  hp.n_expert_used = 0;
  if (s.experts) {
    hp.n_expert = int_key(g, a + ".expert_count", 0, 1024);
    if (hp.n_expert > 0) {
      hp.n_expert_used = int_key(g, a + ".expert_used_count", 0, 64);
      if (hp.n_expert_used == 0 || hp.n_expert_used > hp.n_expert)
        fail("GGUF_BAD_METADATA", "Expected " + a + ".expert_used_count between 1 and expert_count " +
                                      std::to_string(hp.n_expert) + " but received " + std::to_string(hp.n_expert_used));
      hp.n_ff_exp = hp.n_ff;
      if (s.expert_ff_key)
        hp.n_ff_exp = int_key(g, a + ".expert_feed_forward_length", hp.n_ff / hp.n_expert_used, int64_t(1) << 20);
      hp.expert_weights_norm = s.expert_weights_norm;
      hp.expert_gating = ExpertGating::Softmax;
    }
  }
  if (s.experts && hp.n_expert == 0 && g.find(a + ".expert_used_count") && g.get_u64_or(a + ".expert_used_count", 0) > 0)
    fail("GGUF_BAD_METADATA", "Expected " + a + ".expert_count with expert_used_count but received none");

  hp.layer_cfg.assign(static_cast<size_t>(hp.n_layer), LayerConfig{});
  for (int64_t il = 0; il < hp.n_layer; il++) {
    LayerConfig& lc = hp.layer_cfg[static_cast<size_t>(il)];
    const bool swa = hp.n_swa > 0 && il % period < period - 1;
    lc.window = swa ? hp.n_swa : 0;
    lc.rope = swa && hp.ropes.size() > 1 ? 1 : 0;
    lc.moe = hp.n_expert > 0;
  }
}

}  // namespace hb
