// The forward pass's small operations (ops.h). Each states its shapes.
#include "ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/fp16.h"
#include "quant/kernels.h"

namespace hb {

void rmsnorm(float* out, const float* x, const float* w, int64_t n, float eps) {
  double sum = 0;
  for (int64_t i = 0; i < n; i++) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  for (int64_t i = 0; i < n; i++) out[i] = (x[i] * scale) * w[i];
}

// Cody-Waite reduction x = k ln2 + r, |r| <= ln2/2, then a degree-6 Taylor polynomial. Branch-free
// passes, so they vectorize with the baseline ISA (libm's expf is a call per element): first
// clamp to [-88, 88], then evaluate. NaN stays NaN. At the low clamp k rounds to -127, whose
// 2^k bits are those of +0, so everything below about -87.68 comes out as exactly 0 rather than
// a denormal: an FMA with a denormal operand takes a microcode assist on Intel cores (54 ns
// against 0.61 on Sapphire Rapids), and attention's weights below the row's maximum were all
// ~1e-38 denormals, which made the P.V product 79% of prefill there.
void exp_inplace(float* x, int64_t n) {
  const float hi = 88.0f, lo = -88.0f;
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

// Max and sum in 8 float lanes (vectorizes).
float exp_shifted_ref(float* x, int64_t n, float scale, float* sum) {
  if (scale != 1.0f)
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

float exp_shifted(float* x, int64_t n, float scale, float* sum) {
  return vec_kernels()->exp_shifted(x, n, scale, sum);
}

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

void finish(float* out, const float* run, int64_t hd) {
  const float inv = 1.0f / run[1];
  for (int64_t i = 0; i < hd; i++) out[i] = run[2 + i] * inv;
}

float gelu_tanh(float x) {
  const float sqrt_2_over_pi = 0.79788456080286535587989211986876f, coef_a = 0.044715f;
  return 0.5f * x * (1.0f + std::tanh(sqrt_2_over_pi * x * (1.0f + coef_a * x * x)));
}

namespace {

// gelu_tanh of every F16 value, rounded to F16 (ggml's table: the input is rounded to F16 first).
struct GeluTable {
  uint16_t v[65536];
  GeluTable() {
    for (uint32_t i = 0; i < 65536; i++) v[i] = f32_to_fp16(gelu_tanh(fp16_to_f32(static_cast<uint16_t>(i))));
  }
};

const GeluTable& gelu_table() {
  static const GeluTable table;
  return table;
}

}  // namespace

void gated_activation(FfnActivation act, float* gate, const float* up, int64_t n) {
  if (act == FfnActivation::GeluTanhGated) {
    const GeluTable& t = gelu_table();
    for (int64_t i = 0; i < n; i++) {
      const float g = gate[i];
      float a;
      if (g <= -10.0f) a = 0.0f;
      else if (g >= 10.0f) a = g;
      else a = fp16_to_f32(t.v[f32_to_fp16(g)]);
      gate[i] = a * up[i];
    }
    return;
  }
  float e[64];
  for (int64_t i0 = 0; i0 < n; i0 += 64) {
    const int64_t m = std::min<int64_t>(64, n - i0);
    for (int64_t i = 0; i < m; i++) e[i] = -gate[i0 + i];
    exp_inplace(e, m);
    for (int64_t i = 0; i < m; i++) gate[i0 + i] = gate[i0 + i] / (1.0f + e[i]) * up[i0 + i];
  }
}

void softcap(float* x, int64_t n, float cap) {
  const float inv = 1.0f / cap;
  for (int64_t i = 0; i < n; i++) x[i] = std::tanh(x[i] * inv) * cap;
}

void yarn_corr_dims(int64_t rope_dim, int64_t n_ctx_orig, float base, float beta_fast, float beta_slow, float dims[2]) {
  // The pair index whose wavelength turns n_rot times over the original context.
  auto corr_dim = [&](float n_rot) {
    return static_cast<float>(rope_dim) *
           std::log(static_cast<float>(n_ctx_orig) / (n_rot * 2.0f * 3.14159265358979323846f)) / (2.0f * std::log(base));
  };
  const float start = std::floor(corr_dim(beta_fast)), end = std::ceil(corr_dim(beta_slow));
  dims[0] = std::max(0.0f, start);
  dims[1] = std::min(static_cast<float>(rope_dim - 1), end);
}

void rope_angles(float* cs, int64_t pos, int64_t half, int64_t rope_dim, const RopeConfig& rc, const float* factors) {
  const float theta_scale = std::pow(rc.freq_base, -2.0f / static_cast<float>(rope_dim));
  float dims[2] = {0, 0};
  float mscale = rc.attn_factor;
  if (rc.ext_factor != 0.0f) {
    yarn_corr_dims(rope_dim, rc.n_ctx_orig, rc.freq_base, rc.beta_fast, rc.beta_slow, dims);
    mscale *= 1.0f + 0.1f * std::log(1.0f / rc.freq_scale);
  }
  float theta = static_cast<float>(pos);
  for (int64_t i = 0; i < half; i++) {
    const float extrap = factors ? theta / factors[i] : theta;
    const float interp = rc.freq_scale * extrap;
    float angle = interp;
    if (rc.ext_factor != 0.0f) {
      const float y = (static_cast<float>(i) - dims[0]) / std::max(0.001f, dims[1] - dims[0]);
      const float ramp = (1.0f - std::min(1.0f, std::max(0.0f, y))) * rc.ext_factor;
      angle = interp * (1.0f - ramp) + extrap * ramp;
    }
    cs[2 * i] = std::cos(angle) * mscale;
    cs[2 * i + 1] = std::sin(angle) * mscale;
    theta *= theta_scale;
  }
}

void rope_apply(float* vec, int64_t n_heads, int64_t hd, int64_t half, RopeStyle style, const float* cs) {
  const bool neox = style == RopeStyle::Neox;
  for (int64_t h = 0; h < n_heads; h++) {
    float* x = vec + h * hd;
    for (int64_t i = 0; i < half; i++) {
      const float c = cs[2 * i], s = cs[2 * i + 1];
      const int64_t a = neox ? i : 2 * i;
      const int64_t b = neox ? i + half : 2 * i + 1;
      const float x0 = x[a], x1 = x[b];
      x[a] = x0 * c - x1 * s;
      x[b] = x0 * s + x1 * c;
    }
  }
}

void route_experts(const float* logits, int64_t n_expert, int64_t n_used, ExpertGating gating, bool normalize,
                   float* probs, int32_t* ids, float* weights) {
  if (gating == ExpertGating::Softmax) {
    float max_v = -INFINITY;
    for (int64_t e = 0; e < n_expert; e++) max_v = std::max(max_v, logits[e]);
    for (int64_t e = 0; e < n_expert; e++) probs[e] = logits[e] - max_v;
    exp_inplace(probs, n_expert);
    double sum = 0;
    for (int64_t e = 0; e < n_expert; e++) sum += probs[e];
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t e = 0; e < n_expert; e++) probs[e] *= inv;
  } else {
    for (int64_t e = 0; e < n_expert; e++) probs[e] = -logits[e];
    exp_inplace(probs, n_expert);
    for (int64_t e = 0; e < n_expert; e++) probs[e] = 1.0f / (1.0f + probs[e]);
  }
  // n_used is small (<= 16 in every model): selection by repeated scans, lower id first on ties.
  for (int64_t k = 0; k < n_used; k++) {
    int32_t best = -1;
    for (int64_t e = 0; e < n_expert; e++) {
      bool taken = false;
      for (int64_t j = 0; j < k; j++) taken = taken || ids[j] == e;
      if (!taken && (best < 0 || probs[e] > probs[best])) best = static_cast<int32_t>(e);
    }
    ids[k] = best;
    weights[k] = probs[best];
  }
  if (normalize) {
    float sum = 0;
    for (int64_t k = 0; k < n_used; k++) sum += weights[k];
    for (int64_t k = 0; k < n_used; k++) weights[k] /= sum;
  }
}

}  // namespace hb
