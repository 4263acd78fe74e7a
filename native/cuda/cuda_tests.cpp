// halfbyte_cuda_tests [FIXTURES_DIR] [name-filter]: the CUDA backend against the CPU's scalar
// reference (kernels_ref.cpp through kernels_for(t, Isa::Scalar), ops.cpp) and against
// llama.cpp's reference logits of the tiny fixtures, fully and partially offloaded. Built by
// CMake alone (-DHALFBYTE_CUDA=ON), no Node. Without a CUDA device only the host_ tests run
// (the reference-file parser); the rest are skipped with a message and the binary exits 0.
//
// Bounds, per type, on |y_gpu - y| / sum_i |w_i x_i| per output:
//  - against the dequantized weights dotted with the float activations in double: 1e-5 (both
//    use the same float weights; only the order of float sums differs);
//  - against the reference gemm (which quantizes activations to 8 bits first): 2e-2 for the
//    integer types (activation rounding), 1e-5 for F16.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
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

// KL(softmax(p) || softmax(q)) for logit rows p (reference) and q (ours).
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

// One prompt of a fixture's llama.cpp reference (test/fixtures/models/NAME.ref.json): its
// tokens, and the reference logits at `positions`.
struct RefPrompt {
  std::vector<int32_t> tokens, positions;
  std::vector<std::vector<float>> logits;
};

// The numbers of the array starting at text[i] == '[' (nested arrays: one row per inner array).
size_t parse_array(const std::string& text, size_t i, std::vector<std::vector<float>>& rows) {
  int depth = 0;
  std::vector<float> cur;
  for (; i < text.size(); i++) {
    const char c = text[i];
    if (c == '[') {
      depth++;
      cur.clear();
    } else if (c == ']') {
      rows.push_back(cur);
      cur.clear();
      if (--depth == 0) return i + 1;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      char* end = nullptr;
      cur.push_back(std::strtof(text.c_str() + i, &end));
      i = static_cast<size_t>(end - text.c_str()) - 1;
    }
  }
  return i;
}

std::vector<RefPrompt> load_ref(const std::string& name) {
  std::ifstream f(hbtest::fixtures_dir() + "/models/" + name + ".ref.json", std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string text = ss.str();
  std::vector<RefPrompt> out;
  for (size_t at = text.find("\"tokens\":["); at != std::string::npos; at = text.find("\"tokens\":[", at + 1)) {
    RefPrompt p;
    std::vector<std::vector<float>> rows;
    parse_array(text, text.find('[', at), rows);
    for (float v : rows.back()) p.tokens.push_back(static_cast<int32_t>(v));
    rows.clear();
    parse_array(text, text.find('[', text.find("\"positions\":[", at)), rows);
    for (float v : rows.back()) p.positions.push_back(static_cast<int32_t>(v));
    rows.clear();
    parse_array(text, text.find('[', text.find("\"logits\":[", at)), rows);
    rows.pop_back();  // the outer array's (empty) row
    p.logits = rows;
    out.push_back(p);
  }
  return out;
}

// Every ref prompt in one batch with the first n_gpu layers on the GPU: mean KL of the logits
// at the ref positions against llama.cpp's must be <= 1e-3; then one decode step must agree
// with the CPU's (KL <= 1e-3).
void offload_agrees(const std::string& name) {
  hb::LoadOptions o;
  o.threads = 2;
  auto model = hb::Model::load(hbtest::fixtures_dir() + "/models/" + name + ".gguf", o);
  const int64_t V = model->hparams().n_vocab, L = model->hparams().n_layer;
  const std::vector<RefPrompt> ref = load_ref(name);
  CHECK(!ref.empty());
  for (int64_t n_gpu : {L, L / 2, int64_t(1)}) {
    for (const RefPrompt& p : ref) {
      hb::Context ctx(*model, 512), cpu(*model, 512);
      hb::cuda::offload(ctx.impl(), n_gpu);
      std::vector<float> got, step_g, step_w;
      ctx.decode(p.tokens.data(), static_cast<int64_t>(p.tokens.size()), true, got);
      double sum = 0;
      for (size_t k = 0; k < p.positions.size(); k++) {
        CHECK_EQ(static_cast<int64_t>(p.logits[k].size()), V);
        if (static_cast<int64_t>(p.logits[k].size()) != V) return;
        sum += kl(p.logits[k].data(), got.data() + p.positions[k] * V, V);
      }
      const double mean = sum / static_cast<double>(p.positions.size());
      cpu.decode(p.tokens.data(), static_cast<int64_t>(p.tokens.size()), false, step_w);
      const int32_t t = 5;
      ctx.decode(&t, 1, false, step_g);
      cpu.decode(&t, 1, false, step_w);
      const double dec = kl(step_w.data(), step_g.data(), V);
      std::printf("  %s, %lld of %lld layers on the GPU, %zu tokens: mean KL vs llama.cpp %.3g, next step vs CPU %.3g\n",
                  name.c_str(), static_cast<long long>(n_gpu), static_cast<long long>(L), p.tokens.size(), mean, dec);
      CHECK(mean <= 1e-3);
      CHECK(dec <= 1e-3);
    }
  }
}

}  // namespace

// The tiny fixtures against llama.cpp's reference logits, fully and partially offloaded.
TEST(cuda_offload_tiny_fixtures) {
  for (const char* name : {"stories260K", "tiny-llama-F32", "tiny-llama-F16", "tiny-llama-Q8_0", "tiny-llama-Q4_0",
                           "tiny-llama-Q4_K_M", "tiny-qwen2-F32"})
    offload_agrees(name);
}

// The parser of the reference files, on the host (no device needed): the CPU's logits agree
// with what it reads as model_test.cpp holds them to (mean KL <= 1e-3).
TEST(host_ref_files_parse) {
  const std::vector<RefPrompt> ref = load_ref("tiny-llama-Q4_0");
  CHECK(ref.size() >= 1);
  hb::LoadOptions o;
  auto model = hb::Model::load(hbtest::fixtures_dir() + "/models/tiny-llama-Q4_0.gguf", o);
  const int64_t V = model->hparams().n_vocab;
  for (const RefPrompt& p : ref) {
    CHECK(!p.tokens.empty());
    CHECK_EQ(p.positions.size(), p.logits.size());
    for (const auto& row : p.logits) CHECK_EQ(static_cast<int64_t>(row.size()), V);
    hb::Context cpu(*model, 512);
    std::vector<float> got;
    cpu.decode(p.tokens.data(), static_cast<int64_t>(p.tokens.size()), true, got);
    double sum = 0;
    for (size_t k = 0; k < p.positions.size(); k++) sum += kl(p.logits[k].data(), got.data() + p.positions[k] * V, V);
    const double mean = sum / static_cast<double>(p.positions.size());
    std::printf("  CPU vs parsed reference, %zu tokens: mean KL %.3g\n", p.tokens.size(), mean);
    CHECK(mean <= 1e-3);
  }
}

int main(int argc, char** argv) {
  if (argc > 1) hbtest::g_fixtures = argv[1];
  const char* filter = argc > 2 ? argv[2] : nullptr;
  std::string why;
  const bool device = hb::cuda::device_present(&why);
  if (device) std::printf("device: %s\n", hb::cuda::device_info().c_str());
  else std::printf("halfbyte_cuda_tests: no usable CUDA device (%s): the device tests are SKIPPED\n", why.c_str());
  // Without a device only the host_ tests run.
  const hbtest::RunCounts n =
      hbtest::run_cases(filter, [&](const hbtest::Case& c) { return !device && std::strncmp(c.name, "host_", 5) != 0; });
  std::printf("cuda: %d passed, %d failed, %d skipped (no device)\n", n.passed, n.failed, n.skipped);
  return n.failed ? 1 : 0;
}
