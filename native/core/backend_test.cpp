// The backend seam (backend.h): the CPU backend behind it, and a layer split across two CPU
// backends with separate buffers, give bit-identical logits to the unsplit context, so the
// hidden state's crossing and every operation's placement are exercised without a device.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../tests/check.h"
#include "backend.h"
#include "context_impl.h"
#include "model.h"

namespace {

std::unique_ptr<hb::Model> load(const std::string& name) {
  hb::LoadOptions o;
  o.threads = 2;
  return hb::Model::load(hbtest::fixtures_dir() + "/models/" + name + ".gguf", o);
}

// Logits of a prompt (every row) then of two single-token decodes, with layers [0, n_first)
// on the context's CPU backend and the rest on a second CPU backend with its own buffers
// (n_first < 0: no split).
std::vector<float> run(const hb::Model& model, int64_t n_first) {
  hb::Context ctx(model, 64);
  std::unique_ptr<hb::Backend> second;
  if (n_first >= 0) {
    hb::Context::Impl& c = *ctx.impl();
    second = hb::make_cpu_backend(c, true);
    c.set_split(c.cpu.get(), second.get(), n_first);
  }
  std::vector<int32_t> prompt = {1, 5, 9, 13, 17, 21, 25, 29, 33, 2};
  std::vector<float> all, step;
  ctx.decode(prompt.data(), static_cast<int64_t>(prompt.size()), true, all);
  for (int32_t t : {7, 11}) {
    ctx.decode(&t, 1, false, step);
    all.insert(all.end(), step.begin(), step.end());
  }
  return all;
}

}  // namespace

TEST(backend_cpu_layer_split_is_bit_identical) {
  for (const char* name : {"tiny-llama-Q4_0", "tiny-qwen2-F32", "tiny-gemma2-Q8_0"}) {
    auto model = load(name);
    const std::vector<float> want = run(*model, -1);
    const int64_t L = model->hparams().n_layer;
    for (int64_t n_first : {int64_t(0), int64_t(1), L}) {
      const std::vector<float> got = run(*model, n_first);
      CHECK_EQ(got.size(), want.size());
      CHECK(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)) == 0);
    }
  }
}
