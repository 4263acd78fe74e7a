// The forward pass's element-wise and small operations, apart from the model so each has its
// own test (ops_test.cpp). Numerics follow llama.cpp's CPU backend where agreement depends on
// it: RMSNorm sums squares in double, rope angles are built by repeated float multiplication,
// GELU goes through an F16 table as ggml's does.
#pragma once
#include <cstdint>

#include "arch.h"

namespace hb {

// x (n,) * w (n,) -> out (n,): out = x / sqrt(mean(x^2) + eps) * w   (out may be x)
void rmsnorm(float* out, const float* x, const float* w, int64_t n, float eps);

// x (n,) -> exp(x) (n,) in place, relative error below 3e-7 (about ggml's SIMD exp).
void exp_inplace(float* x, int64_t n);

// x (n,) -> x (n,) = exp(x * scale - m), m = max(x * scale); returns m and *sum = sum of the
// results: one chunk's unnormalized softmax. Runs the active ISA's version (quant/kernels.h
// VecKernels), which gives the same bits as exp_shifted_ref, the reference and test oracle.
float exp_shifted(float* x, int64_t n, float scale, float* sum);
float exp_shifted_ref(float* x, int64_t n, float scale, float* sum);

// One query row's running softmax state run = [m, s, o (hd,)]: folds a chunk's (m2, s2, o2) in
// (both rescaled to the larger max); the first chunk is copied.
void fold(float* run, float m2, float s2, const float* o2, int64_t hd, bool first);
// Running state [m, s, o (hd,)] -> out (hd,) = o / s.
void finish(float* out, const float* run, int64_t hd);

// gate (n,), up (n,) -> gate (n,) = act(gate) * up: silu(g) = g / (1 + exp(-g)), or GELU
// (tanh form) looked up in an F16 table of the rounded input, exact beyond |g| >= 10.
void gated_activation(FfnActivation act, float* gate, const float* up, int64_t n);
// GELU, tanh approximation, of one float (the table's source).
float gelu_tanh(float x);

// x (n,) -> x (n,) = cap * tanh(x / cap): soft-capping of attention scores or final logits.
void softcap(float* x, int64_t n, float cap);

// Rope angles of one position: cs (half, 2) = cos, sin of theta_i for pairs i < half, where
// theta_extrap_i = pos * base^(-2i/rope_dim) / factor_i (factors may be null), built by repeated
// multiplication in float; then freq_scale and YaRN's ramp (ext_factor != 0) mix interpolated and
// extrapolated angles, and cos/sin are scaled by attn_factor (times YaRN's magnitude correction).
void rope_angles(float* cs, int64_t pos, int64_t half, int64_t rope_dim, const RopeConfig& rc, const float* factors);
// ggml's YaRN correction range: the pair indices [lo, hi] between which the ramp runs.
void yarn_corr_dims(int64_t rope_dim, int64_t n_ctx_orig, float base, float beta_fast, float beta_slow, float dims[2]);

// vec (n_heads, hd) rotated in place by the angles cs (half, 2): Normal pairs (2i, 2i+1), Neox
// pairs (i, i + half). Dimensions >= 2 * half stay.
void rope_apply(float* vec, int64_t n_heads, int64_t hd, int64_t half, RopeStyle style, const float* cs);

// Expert routing of one token: logits (n_expert,) -> the n_used experts with the largest gate
// probabilities (softmax over all experts, or sigmoid), ids (n_used,) by decreasing probability
// (lower id first on ties), weights (n_used,) their probabilities, renormalized to sum 1 if
// `normalize`. probs is scratch of n_expert floats.
void route_experts(const float* logits, int64_t n_expert, int64_t n_used, ExpertGating gating, bool normalize,
                   float* probs, int32_t* ids, float* weights);

}  // namespace hb
