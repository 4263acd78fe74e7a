// Tests of what the architecture table adds to the forward pass: sliding-window KV rings
// (bit-identical to full caches, truncation, session files), mixture-of-experts work (only the
// used experts are read), and the table itself. Parity with llama.cpp per architecture is in
// model_test.cpp (model_architecture_fixtures_logits) and test/parity.test.ts.
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../tests/check.h"
#include "arch.h"
#include "model.h"
#include "platform.h"

namespace {

std::unique_ptr<hb::Model> load(const std::string& name, int threads = 2) {
  hb::LoadOptions o;
  o.threads = threads;
  return hb::Model::load(hbtest::fixtures_dir() + "/models/" + name + ".gguf", o);
}

std::vector<int32_t> pseudo_tokens(int64_t n, int64_t vocab) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; i++) t[static_cast<size_t>(i)] = static_cast<int32_t>((i * 131 + 7) % vocab);
  t[0] = 1;
  return t;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

std::string temp_file(const char* tag) {
  static int counter = 0;
  return hb::platform::temp_dir() + "/halfbyte-arch-test-" + std::to_string(hb::platform::process_id()) + "-" +
         std::string(tag) + "-" + std::to_string(counter++);
}

}  // namespace

TEST(arch_table_lists_every_architecture) {
  for (const char* a : {"llama", "qwen2", "qwen3", "qwen3moe", "olmoe", "gemma2", "gemma3", "phi3"}) {
    const hb::ArchSpec* s = hb::find_arch(a);
    CHECK(s != nullptr);
    if (s) CHECK_EQ(std::string(s->name), std::string(a));
    CHECK(hb::supported_architectures().find(a) != std::string::npos);
  }
  CHECK(hb::find_arch("mamba") == nullptr);
  CHECK(hb::find_arch("") == nullptr);
}

TEST(arch_layer_config_from_metadata) {
  auto g2 = load("tiny-gemma2-F32");
  const hb::HParams& a = g2->hparams();
  CHECK_EQ(a.n_swa, 24);
  CHECK_EQ(a.layer_cfg[0].window, 24);  // gemma2: even layers local
  CHECK_EQ(a.layer_cfg[1].window, 0);
  CHECK_NEAR(a.attn_softcap, 50.0, 0);
  CHECK_NEAR(a.final_softcap, 30.0, 0);
  CHECK_NEAR(a.embd_scale, 16.0, 0);
  CHECK(a.scale_q);
  auto g3 = load("tiny-gemma3-F32");
  const hb::HParams& b = g3->hparams();
  CHECK_EQ(b.ropes.size(), size_t(2));
  for (int il = 0; il < 6; il++) {
    CHECK_EQ(b.layer_cfg[il].window, il == 5 ? 0 : 40);  // gemma3: every 6th layer global
    CHECK_EQ(b.layer_cfg[il].rope, il == 5 ? 0 : 1);
  }
  CHECK_NEAR(b.ropes[0].freq_base, 1e6, 0);
  CHECK_NEAR(b.ropes[0].freq_scale, 0.125, 0);  // linear factor 8 on global layers
  CHECK_NEAR(b.ropes[1].freq_base, 10000, 0);   // local layers: their own base, no scaling
  CHECK_NEAR(b.ropes[1].freq_scale, 1, 0);
  CHECK_EQ(b.final_softcap, 0.0f);
  auto moe = load("tiny-qwen3moe-F32");
  CHECK_EQ(moe->hparams().n_expert, 4);
  CHECK_EQ(moe->hparams().n_expert_used, 2);
  CHECK_EQ(moe->hparams().n_ff_exp, 256);
  CHECK(moe->hparams().expert_weights_norm);
  CHECK(!load("tiny-olmoe-F32")->hparams().expert_weights_norm);
  auto yarn = load("tiny-qwen2-yarn-F32");
  CHECK_EQ(yarn->hparams().ropes[0].ext_factor, 1.0f);
  CHECK_EQ(yarn->hparams().ropes[0].n_ctx_orig, 64);
}

// A ring holds only the slots a window can reach; the arithmetic is the same as over a full
// cache, so every logit must be bit-identical, however the tokens are batched.
TEST(arch_sliding_window_ring_matches_full_cache_bitwise) {
  for (const char* name : {"tiny-gemma2-Q8_0", "tiny-gemma3-F32"}) {
    auto m = load(name);
    const int64_t V = m->hparams().n_vocab;
    hb::Context ring(*m, 2048), full(*m, 2048, true);
    CHECK(ring.kv_bytes() < full.kv_bytes());
    std::printf("  %s: KV cache %zu KiB with rings, %zu KiB full\n", name, ring.kv_bytes() >> 10, full.kv_bytes() >> 10);
    const std::vector<int32_t> toks = pseudo_tokens(1100, V);
    std::vector<float> a, b;
    int64_t at = 0, differ = 0;
    for (int64_t step : {700, 1, 1, 250, 3, 1, 100, 1}) {  // crosses the rings' wrap many times
      ring.decode(toks.data() + at, step, true, a);
      full.decode(toks.data() + at, step, true, b);
      differ += !same_bits(a, b);
      at += step;
    }
    CHECK_EQ(differ, 0);
    CHECK_EQ(ring.n_past(), at);

    // Cut back within the window: kept, and both continue alike. Further back the ring no
    // longer holds the window, so the cut keeps nothing (the caller evaluates again).
    CHECK_EQ(ring.truncate(at - 5), at - 5);
    CHECK_EQ(full.truncate(at - 5), at - 5);
    ring.decode(toks.data(), 3, false, a);
    full.decode(toks.data(), 3, false, b);
    CHECK(same_bits(a, b));
    CHECK_EQ(ring.truncate(200), int64_t(0));
    CHECK_EQ(full.truncate(200), int64_t(200));
    CHECK_EQ(ring.n_past(), int64_t(0));
    // Started over, the ring gives what a fresh full cache gives for the same batches (a batch
    // split differently is not bit-identical: prefill and decode round differently).
    hb::Context fresh(*m, 2048, true);
    ring.decode(toks.data(), 200, false, a);
    fresh.decode(toks.data(), 200, false, b);
    ring.decode(toks.data() + 200, 1, false, a);
    fresh.decode(toks.data() + 200, 1, false, b);
    CHECK(same_bits(a, b));
  }
}

TEST(arch_sliding_window_state_files) {
  auto m = load("tiny-gemma2-Q8_0");
  const int64_t V = m->hparams().n_vocab;
  const std::vector<int32_t> toks = pseudo_tokens(901, V);
  std::vector<int32_t> prefix(toks.begin(), toks.end() - 1);
  hb::Context ring(*m, 2048), full(*m, 2048, true);
  std::vector<float> logits, want, got;
  ring.decode(prefix.data(), 900, false, logits);
  full.decode(prefix.data(), 900, false, logits);
  full.decode(&toks[900], 1, false, want);
  full.truncate(900);
  const std::string from_ring = temp_file("ring"), from_full = temp_file("full");
  ring.save_state(from_ring, "hb-arch", prefix);
  full.save_state(from_full, "hb-arch", prefix);
  // Either file into either layout: the same next logits as never saving.
  for (const std::string& file : {from_ring, from_full})
    for (bool full_windows : {false, true}) {
      hb::Context c(*m, 2048, full_windows);
      CHECK(c.load_state(file, "hb-arch") == prefix);
      c.decode(&toks[900], 1, false, got);
      CHECK(same_bits(got, want));
      // The window below what the file held is not there: a cut far back keeps nothing.
      CHECK_EQ(c.truncate(500), int64_t(0));
    }
  std::remove(from_ring.c_str());
  std::remove(from_full.c_str());
}

// Decode reads only the experts its token uses; prefill reads each used expert once per batch.
TEST(arch_moe_decode_touches_only_used_experts) {
  for (const char* name : {"tiny-qwen3moe-Q4_K_M", "tiny-olmoe-F32", "tiny-llama-moe-Q8_0"}) {
    auto m = load(name);
    const hb::HParams& hp = m->hparams();
    hb::Context ctx(*m, 256);
    const std::vector<int32_t> toks = pseudo_tokens(40, hp.n_vocab);
    std::vector<float> logits;
    ctx.decode(toks.data(), 32, false, logits);
    const hb::Context::Stats prefill = ctx.stats();
    // Each layer runs every expert at most once for the 32 tokens (3 products each).
    CHECK(prefill.expert_products <= static_cast<uint64_t>(hp.n_layer * hp.n_expert * 3));
    CHECK(prefill.expert_products >= static_cast<uint64_t>(hp.n_layer * hp.n_expert_used * 3));
    ctx.decode(&toks[32], 1, false, logits);
    const uint64_t products = ctx.stats().expert_products - prefill.expert_products;
    const uint64_t bytes = ctx.stats().expert_bytes - prefill.expert_bytes;
    CHECK_EQ(products, static_cast<uint64_t>(hp.n_layer * hp.n_expert_used * 3));
    // The expert tensors' bytes per expert, from the file: used experts' share of them.
    uint64_t all_expert_bytes = 0;
    for (const hb::GgufTensor& t : m->gguf().tensors)
      if (t.name.find("_exps.weight") != std::string::npos) all_expert_bytes += t.nbytes;
    CHECK_EQ(bytes, all_expert_bytes / static_cast<uint64_t>(hp.n_expert) * static_cast<uint64_t>(hp.n_expert_used));
    std::printf("  %s: one token reads %llu of %llu expert bytes (%lld of %lld experts per layer)\n", name,
                static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(all_expert_bytes),
                static_cast<long long>(hp.n_expert_used), static_cast<long long>(hp.n_expert));
  }
}

TEST(arch_results_do_not_depend_on_threads) {
  for (const char* name : {"tiny-gemma3-Q4_K_M", "tiny-qwen3moe-Q8_0", "tiny-phi3-Q8_0"}) {
    std::vector<std::vector<float>> runs;
    for (int threads : {1, 2, 3}) {
      auto m = load(name, threads);
      hb::Context ctx(*m, 1024);
      const std::vector<int32_t> toks = pseudo_tokens(300, m->hparams().n_vocab);
      std::vector<float> a, b;
      ctx.decode(toks.data(), 299, true, a);
      ctx.decode(&toks[299], 1, false, b);
      a.insert(a.end(), b.begin(), b.end());
      runs.push_back(a);
    }
    CHECK(same_bits(runs[0], runs[1]));
    CHECK(same_bits(runs[0], runs[2]));
  }
}
