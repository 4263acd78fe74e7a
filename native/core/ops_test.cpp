// Tests of the forward pass's operations (ops.h) against hand-computed values and plain double
// formulas written here, apart from the implementation.
#include <cmath>
#include <limits>
#include <vector>

#include "../tests/check.h"
#include "ops.h"
#include "quant/fp16.h"

namespace {

const double kPi = 3.14159265358979323846;

}  // namespace

// Deep underflow gives exactly +0, never a denormal (denormal FMA operands cost Intel cores a
// microcode assist each); the band just above stays close to the true value; NaN stays NaN.
TEST(ops_exp_underflows_to_zero_not_to_a_denormal) {
  std::vector<float> x;
  for (int i = 0; i <= 4000; i++) x.push_back(-200.0f + 0.05f * static_cast<float>(i));  // [-200, 0]
  x.push_back(-INFINITY);
  std::vector<float> y = x;
  hb::exp_inplace(y.data(), static_cast<int64_t>(y.size()));
  int zeros = 0, denormals = 0;
  for (size_t i = 0; i < y.size(); i++) {
    if (y[i] == 0.0f) {
      CHECK(!std::signbit(y[i]));
      zeros++;
    } else if (std::fpclassify(y[i]) == FP_SUBNORMAL) {
      denormals++;
    }
    if (x[i] >= -87.3f) CHECK(std::fabs(y[i] - std::exp(static_cast<double>(x[i]))) <= 1e-6 * std::exp(static_cast<double>(x[i])));
  }
  CHECK(y.back() == 0.0f);
  CHECK(zeros >= 2248);  // every x <= -87.7
  CHECK(denormals <= 7);  // only (-87.68, -87.34), where the true value is a denormal too
  float nan = std::numeric_limits<float>::quiet_NaN();
  hb::exp_inplace(&nan, 1);
  CHECK(std::isnan(nan));
}

TEST(ops_rmsnorm_matches_the_formula) {
  const float x[4] = {1, -2, 3, 0.5f}, w[4] = {1, 0.5f, 2, -1};
  float out[4];
  hb::rmsnorm(out, x, w, 4, 1e-5f);
  const double ms = (1 + 4 + 9 + 0.25) / 4;
  for (int i = 0; i < 4; i++) CHECK_NEAR(out[i], x[i] / std::sqrt(ms + 1e-5) * w[i], 1e-6);
  float in_place[4] = {1, -2, 3, 0.5f};
  hb::rmsnorm(in_place, in_place, w, 4, 1e-5f);  // out may alias x
  for (int i = 0; i < 4; i++) CHECK_EQ(in_place[i], out[i]);
}

TEST(ops_softcap_is_cap_tanh_of_x_over_cap) {
  float x[5] = {-100, -3, 0, 7.5f, 1000};
  hb::softcap(x, 5, 30.0f);
  const double want[5] = {30 * std::tanh(-100 / 30.0), 30 * std::tanh(-0.1), 0, 30 * std::tanh(0.25), 30.0};
  for (int i = 0; i < 5; i++) CHECK_NEAR(x[i], want[i], 2e-5);
  CHECK(x[4] <= 30.0f);
}

TEST(ops_gelu_gate_rounds_its_input_to_f16_as_ggml_does) {
  // The table path: gelu of the F16-rounded input, rounded to F16, times up; exact outside +-10.
  std::vector<float> g = {-12.0f, -10.0f, -1.2345f, -0.01f, 0.0f, 0.3333f, 2.71828f, 9.99f, 10.0f, 15.0f};
  std::vector<float> up(g.size(), 1.5f);
  std::vector<float> got = g;
  hb::gated_activation(hb::FfnActivation::GeluTanhGated, got.data(), up.data(), static_cast<int64_t>(g.size()));
  for (size_t i = 0; i < g.size(); i++) {
    double want;
    if (g[i] <= -10.0f) want = 0;
    else if (g[i] >= 10.0f) want = g[i];
    else {
      const double r = hb::fp16_to_f32(hb::f32_to_fp16(g[i]));
      const double gelu = 0.5 * r * (1 + std::tanh(std::sqrt(2 / kPi) * r * (1 + 0.044715 * r * r)));
      want = hb::fp16_to_f32(hb::f32_to_fp16(static_cast<float>(gelu)));
    }
    CHECK_NEAR(got[i], want * 1.5, 1e-6 * (1 + std::fabs(want)));
  }
  // gelu(1) in double: 0.8411919906...
  CHECK_NEAR(hb::gelu_tanh(1.0f), 0.841191990607, 1e-6);
}

TEST(ops_silu_gate) {
  float g[3] = {-2, 0, 3}, up[3] = {1, 2, -1};
  hb::gated_activation(hb::FfnActivation::SiluGated, g, up, 3);
  const double in[3] = {-2, 0, 3}, u[3] = {1, 2, -1};
  for (int i = 0; i < 3; i++) CHECK_NEAR(g[i], in[i] / (1 + std::exp(-in[i])) * u[i], 1e-6);
}

TEST(ops_rope_angles_plain_linear_and_factors) {
  hb::RopeConfig rc;
  rc.freq_base = 10000;
  const int64_t dim = 8, half = 4, pos = 7;
  float cs[8];
  hb::rope_angles(cs, pos, half, dim, rc, nullptr);
  for (int i = 0; i < half; i++) {
    const double theta = pos * std::pow(10000.0, -2.0 * i / dim);
    CHECK_NEAR(cs[2 * i], std::cos(theta), 2e-6);
    CHECK_NEAR(cs[2 * i + 1], std::sin(theta), 2e-6);
  }
  // Linear scaling, per-pair divisors and the attention factor.
  rc.freq_scale = 0.25f;
  rc.attn_factor = 1.5f;
  const float ff[4] = {1, 2, 4, 8};
  hb::rope_angles(cs, pos, half, dim, rc, ff);
  for (int i = 0; i < half; i++) {
    const double theta = 0.25 * pos * std::pow(10000.0, -2.0 * i / dim) / ff[i];
    CHECK_NEAR(cs[2 * i], 1.5 * std::cos(theta), 3e-6);
    CHECK_NEAR(cs[2 * i + 1], 1.5 * std::sin(theta), 3e-6);
  }
}

TEST(ops_yarn_mixes_extrapolation_by_the_ramp) {
  // YaRN as ggml defines it: corr dims from beta_fast/slow, ramp between them, magnitude
  // 1 + 0.1 ln(1/scale) on top of attn_factor.
  const int64_t dim = 64, half = 32, n_orig = 64, pos = 300;
  const double base = 10000, scale = 0.25;
  hb::RopeConfig rc;
  rc.freq_base = static_cast<float>(base);
  rc.freq_scale = static_cast<float>(scale);
  rc.ext_factor = 1.0f;
  rc.attn_factor = 1.0f;
  rc.n_ctx_orig = n_orig;
  float dims[2];
  hb::yarn_corr_dims(dim, n_orig, rc.freq_base, 32, 1, dims);
  auto corr = [&](double rot) { return dim * std::log(n_orig / (rot * 2 * kPi)) / (2 * std::log(base)); };
  CHECK_EQ(dims[0], static_cast<float>(std::max(0.0, std::floor(corr(32)))));
  CHECK_EQ(dims[1], static_cast<float>(std::min(dim - 1.0, std::ceil(corr(1)))));
  std::vector<float> cs(2 * half);
  hb::rope_angles(cs.data(), pos, half, dim, rc, nullptr);
  const double mscale = 1 + 0.1 * std::log(1 / scale);
  for (int i = 0; i < half; i++) {
    const double extrap = pos * std::pow(base, -2.0 * i / dim), interp = scale * extrap;
    const double y = (i - dims[0]) / std::max(0.001, static_cast<double>(dims[1] - dims[0]));
    const double ramp = 1 - std::min(1.0, std::max(0.0, y));
    const double theta = interp * (1 - ramp) + extrap * ramp;
    CHECK_NEAR(cs[2 * i], mscale * std::cos(theta), 2e-4);
    CHECK_NEAR(cs[2 * i + 1], mscale * std::sin(theta), 2e-4);
  }
}

TEST(ops_rope_apply_pairs_by_style) {
  // One head of 6 with rope on the first 4: normal pairs (0,1), (2,3); neox pairs (0,2), (1,3).
  const float cs[4] = {0.0f, 1.0f, 0.6f, 0.8f};  // pair 0: 90 degrees; pair 1: cos .6 sin .8
  float a[6] = {1, 2, 3, 4, 5, 6};
  hb::rope_apply(a, 1, 6, 2, hb::RopeStyle::Normal, cs);
  const float want_a[6] = {-2, 1, 3 * 0.6f - 4 * 0.8f, 3 * 0.8f + 4 * 0.6f, 5, 6};
  for (int i = 0; i < 6; i++) CHECK_NEAR(a[i], want_a[i], 1e-6);
  float b[6] = {1, 2, 3, 4, 5, 6};
  hb::rope_apply(b, 1, 6, 2, hb::RopeStyle::Neox, cs);
  const float want_b[6] = {-3, 2 * 0.6f - 4 * 0.8f, 1, 2 * 0.8f + 4 * 0.6f, 5, 6};
  for (int i = 0; i < 6; i++) CHECK_NEAR(b[i], want_b[i], 1e-6);
}

TEST(ops_route_experts_softmax_top_k_and_normalization) {
  const float logits[5] = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f};
  float probs[5], w[2];
  int32_t ids[2];
  hb::route_experts(logits, 5, 2, hb::ExpertGating::Softmax, false, probs, ids, w);
  double z = 0;
  for (float l : logits) z += std::exp(l);
  CHECK_EQ(ids[0], 1);  // a tie between 1 and 3: the lower id first
  CHECK_EQ(ids[1], 3);
  CHECK_NEAR(w[0], std::exp(2.0) / z, 1e-6);
  CHECK_NEAR(w[1], std::exp(2.0) / z, 1e-6);
  hb::route_experts(logits, 5, 2, hb::ExpertGating::Softmax, true, probs, ids, w);
  CHECK_NEAR(w[0], 0.5, 1e-6);
  CHECK_NEAR(w[1], 0.5, 1e-6);
  const float l2[4] = {3, -1, 0, 1};
  float p2[4], w3[3];
  int32_t i3[3];
  hb::route_experts(l2, 4, 3, hb::ExpertGating::Softmax, true, p2, i3, w3);
  CHECK_EQ(i3[0], 0);
  CHECK_EQ(i3[1], 3);
  CHECK_EQ(i3[2], 2);
  const double s = std::exp(3.0) + std::exp(1.0) + 1;
  CHECK_NEAR(w3[0], std::exp(3.0) / s, 1e-6);
  CHECK_NEAR(w3[2], 1 / s, 1e-6);
  hb::route_experts(l2, 4, 1, hb::ExpertGating::Sigmoid, false, p2, i3, w3);
  CHECK_EQ(i3[0], 0);
  CHECK_NEAR(w3[0], 1 / (1 + std::exp(-3.0)), 1e-6);
}

TEST(ops_softmax_fold_matches_one_pass) {
  // Two chunks folded equal one softmax over both.
  float s[6] = {0.1f, 2.0f, -1.0f, 0.5f, 3.0f, -2.0f};
  const float v[6] = {1, 2, 3, 4, 5, 6};  // hd = 1
  float a[3] = {s[0], s[1], s[2]}, b[3] = {s[3], s[4], s[5]};
  float sa, sb;
  const float ma = hb::exp_shifted(a, 3, 0.5f, &sa), mb = hb::exp_shifted(b, 3, 0.5f, &sb);
  float oa = a[0] * v[0] + a[1] * v[1] + a[2] * v[2], ob = b[0] * v[3] + b[1] * v[4] + b[2] * v[5];
  float run[3], out;
  hb::fold(run, ma, sa, &oa, 1, true);
  hb::fold(run, mb, sb, &ob, 1, false);
  hb::finish(&out, run, 1);
  double z = 0, num = 0;
  for (int i = 0; i < 6; i++) {
    z += std::exp(0.5 * s[i]);
    num += std::exp(0.5 * s[i]) * v[i];
  }
  CHECK_NEAR(out, num / z, 1e-5);
}
