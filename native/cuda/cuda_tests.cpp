// halfbyte_cuda_tests [FIXTURES_DIR] [name-filter]: the CUDA backend against the CPU's scalar
// reference (kernels_ref.cpp through kernels_for(t, Isa::Scalar), ops.cpp) and against
// llama.cpp's reference logits of the tiny fixtures, fully and partially offloaded. Built by
// CMake alone (-DHALFBYTE_CUDA=ON), no Node. Without a CUDA device every test is skipped with a
// message and the binary exits 0.
//
// Bounds, per type, on |y_gpu - y| / sum_i |w_i x_i| per output:
//  - against the dequantized weights dotted with the float activations in double: 1e-5 (both
//    use the same float weights; only the order of float sums differs);
//  - against the reference gemm (which quantizes activations to 8 bits first): 2e-2 for the
//    integer types (activation rounding), 1e-5 for F16.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../core/context_impl.h"
#include "../core/error.h"
#include "../core/model.h"
#include "../core/ops.h"
#include "../core/quant/kernels.h"
#include "../core/quantize.h"
#include "../tests/check.h"
#include "cuda_backend.h"

namespace hbtest {
std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}
int g_failures_in_case = 0;
static std::string g_fixtures = "test/fixtures";
const std::string& fixtures_dir() { return g_fixtures; }
}  // namespace hbtest

namespace {

std::vector<float> randn(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

}  // namespace

TEST(cuda_gemm_matches_reference_per_type) {
  const hb::GgmlType types[] = {hb::GgmlType::Q4_0, hb::GgmlType::Q8_0, hb::GgmlType::Q4_K,
                                hb::GgmlType::Q5_K, hb::GgmlType::Q6_K, hb::GgmlType::F16};
  const int64_t n = 512, rows = 37;
  for (hb::GgmlType t : types) {
    for (int64_t ntok : {int64_t(1), int64_t(3), int64_t(19)}) {  // decode and prefill shapes
      const std::vector<float> wf = randn(static_cast<size_t>(rows * n), 1), x = randn(static_cast<size_t>(ntok * n), 2);
      const size_t rb = hb::quant_row_bytes(t, n);
      std::vector<uint8_t> w(rb * static_cast<size_t>(rows));
      for (int64_t r = 0; r < rows; r++) hb::quantize_row(t, wf.data() + r * n, w.data() + r * rb, n);
      std::vector<float> got(static_cast<size_t>(ntok * rows));
      hb::cuda::test_gemm(t, w.data(), rb, rows, n, x.data(), ntok, got.data());
      // Reference: the scalar kernels' gemm (quantized activations) and dequantize_row (exact weights).
      const hb::TypeKernels* ref = hb::kernels_for(t, hb::Isa::Scalar);
      std::vector<uint8_t> xq(hb::act_row_bytes(ref->act, n) * static_cast<size_t>(ntok));
      const size_t xs = ref->act == hb::ActFormat::F32 ? n * sizeof(float) : hb::act_row_bytes(ref->act, n);
      if (ref->act == hb::ActFormat::F32) std::memcpy(xq.data(), x.data(), xq.size());
      else for (int64_t tk = 0; tk < ntok; tk++) ref->quantize_act(x.data() + tk * n, xq.data() + tk * xs, n);
      std::vector<float> want(static_cast<size_t>(ntok * rows));
      ref->gemm(n, w.data(), rb, rows, xq.data(), xs, ntok, want.data(), static_cast<size_t>(rows));
      std::vector<float> deq(static_cast<size_t>(n));
      double worst_exact = 0, worst_ref = 0;
      for (int64_t r = 0; r < rows; r++) {
        ref->dequantize_row(w.data() + r * rb, deq.data(), n);
        for (int64_t tk = 0; tk < ntok; tk++) {
          double exact = 0, mag = 0;
          for (int64_t i = 0; i < n; i++) {
            exact += double(deq[i]) * x[tk * n + i];
            mag += std::fabs(double(deq[i]) * x[tk * n + i]);
          }
          const double g = got[tk * rows + r];
          worst_exact = std::max(worst_exact, std::fabs(g - exact) / mag);
          worst_ref = std::max(worst_ref, std::fabs(g - want[tk * rows + r]) / mag);
        }
      }
      const double bound_ref = t == hb::GgmlType::F16 ? 1e-5 : 2e-2;
      std::printf("  %s ntok %lld: vs exact %.2g, vs reference gemm %.2g\n", hb::ggml_type_name(t),
                  static_cast<long long>(ntok), worst_exact, worst_ref);
      CHECK(worst_exact <= 1e-5);
      CHECK(worst_ref <= bound_ref);
    }
  }
}

TEST(cuda_rmsnorm_rope_swiglu_match_ops) {
  const int64_t n = 300, rows = 5;
  const std::vector<float> x = randn(static_cast<size_t>(rows * n), 3), w = randn(static_cast<size_t>(n), 4);
  std::vector<float> got(x.size()), want(x.size());
  hb::cuda::test_rmsnorm(got.data(), x.data(), w.data(), rows, n, 1e-5f);
  for (int64_t r = 0; r < rows; r++) hb::rmsnorm(want.data() + r * n, x.data() + r * n, w.data(), n, 1e-5f);
  for (size_t i = 0; i < x.size(); i++) CHECK(std::fabs(got[i] - want[i]) <= 1e-5f * (1 + std::fabs(want[i])));

  const int64_t heads = 4, hd = 64, half = 32;
  hb::RopeConfig rc;
  std::vector<float> cs(static_cast<size_t>(2 * half));
  hb::rope_angles(cs.data(), 17, half, 2 * half, rc, nullptr);
  for (int style = 0; style < 2; style++) {
    std::vector<float> v = randn(static_cast<size_t>(heads * hd), 5), vr = v;
    hb::cuda::test_rope(v.data(), heads, hd, half, style, cs.data());
    hb::rope_apply(vr.data(), heads, hd, half, style ? hb::RopeStyle::Neox : hb::RopeStyle::Normal, cs.data());
    for (size_t i = 0; i < v.size(); i++) CHECK(std::fabs(v[i] - vr[i]) <= 1e-5f * (1 + std::fabs(vr[i])));
  }

  std::vector<float> g = randn(1000, 6), u = randn(1000, 7), gr = g;
  hb::cuda::test_swiglu(g.data(), u.data(), 1000);
  hb::gated_activation(hb::FfnActivation::SiluGated, gr.data(), u.data(), 1000);
  for (size_t i = 0; i < g.size(); i++) CHECK(std::fabs(g[i] - gr[i]) <= 1e-5f * (1 + std::fabs(gr[i])));
}

namespace {

// Mean KL of the context's logits (all rows of each ref prompt) against llama.cpp's, with the
// first n_gpu layers on the GPU. Reads the ref through the CPU: the CPU logits of the same
// model are the oracle here (they agree with llama.cpp to the KL model_test.cpp checks), and
// the GPU run must agree with both.
double kl(const float* p, const float* q, int64_t n) {
  double mp = p[0], mq = q[0];
  for (int64_t i = 1; i < n; i++) mp = std::max(mp, double(p[i])), mq = std::max(mq, double(q[i]));
  double sp = 0, sq = 0;
  for (int64_t i = 0; i < n; i++) sp += std::exp(p[i] - mp), sq += std::exp(q[i] - mq);
  double k = 0;
  for (int64_t i = 0; i < n; i++) {
    const double lp = p[i] - mp - std::log(sp), lq = q[i] - mq - std::log(sq);
    k += std::exp(lp) * (lp - lq);
  }
  return k;
}

void offload_agrees(const std::string& name) {
  hb::LoadOptions o;
  o.threads = 2;
  auto model = hb::Model::load(hbtest::fixtures_dir() + "/models/" + name + ".gguf", o);
  const int64_t V = model->hparams().n_vocab, L = model->hparams().n_layer;
  std::vector<int32_t> prompt;
  for (int i = 0; i < 40; i++) prompt.push_back(1 + (i * 37) % static_cast<int>(V - 1));
  std::vector<float> want, got, step_w, step_g;
  {
    hb::Context cpu(*model, 128);
    cpu.decode(prompt.data(), static_cast<int64_t>(prompt.size()), true, want);
    const int32_t t = 5;
    cpu.decode(&t, 1, false, step_w);
  }
  for (int64_t n_gpu : {L, L / 2, int64_t(1)}) {
    hb::Context ctx(*model, 128);
    hb::cuda::offload(ctx.impl(), n_gpu);
    ctx.decode(prompt.data(), static_cast<int64_t>(prompt.size()), true, got);
    const int32_t t = 5;
    ctx.decode(&t, 1, false, step_g);
    double sum = 0;
    for (size_t r = 0; r < prompt.size(); r++) sum += kl(want.data() + r * V, got.data() + r * V, V);
    const double mean = sum / static_cast<double>(prompt.size()), dec = kl(step_w.data(), step_g.data(), V);
    std::printf("  %s, %lld of %lld layers on the GPU: prefill mean KL %.3g, decode KL %.3g\n", name.c_str(),
                static_cast<long long>(n_gpu), static_cast<long long>(L), mean, dec);
    CHECK(mean <= 1e-3);
    CHECK(dec <= 1e-3);
  }
}

}  // namespace

// The KL bound against llama.cpp's own logits is checked through the CPU (model_test.cpp holds
// the CPU to <= 1e-3 of llama.cpp); here the GPU is held to <= 1e-3 of the CPU.
TEST(cuda_offload_tiny_fixtures) {
  for (const char* name : {"tiny-llama-F32", "tiny-llama-Q8_0", "tiny-llama-Q4_0", "tiny-llama-Q4_K_M", "tiny-qwen2-F32"})
    offload_agrees(name);
}

int main(int argc, char** argv) {
  if (argc > 1) hbtest::g_fixtures = argv[1];
  const char* filter = argc > 2 ? argv[2] : nullptr;
  std::string why;
  if (!hb::cuda::device_present(&why)) {
    std::printf("halfbyte_cuda_tests: SKIPPED, no usable CUDA device (%s); %zu tests not run\n", why.c_str(),
                hbtest::registry().size());
    return 0;
  }
  std::printf("device: %s\n", hb::cuda::device_info().c_str());
  int passed = 0, failed = 0;
  for (auto& c : hbtest::registry()) {
    if (filter && !std::strstr(c.name, filter)) continue;
    hbtest::g_failures_in_case = 0;
    try {
      c.fn();
    } catch (const std::exception& e) {
      hbtest::report(__FILE__, __LINE__, std::string("uncaught exception: ") + e.what());
    }
    if (hbtest::g_failures_in_case) {
      ++failed;
      std::fprintf(stderr, "not ok %s\n", c.name);
    } else {
      ++passed;
      std::printf("ok %s\n", c.name);
    }
  }
  std::printf("cuda: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
