// halfbyte_cuda_bench MODEL.gguf [prompt_tokens] [decode_tokens]: prefill and decode tok/s with
// every layer on the GPU, and the read bandwidth implied by decode (every weight byte read once
// per token) against the device's peak (memory clock x bus width x 2). For
// scripts/cuda-device-check.sh; random-weight files are fine (the work is real).
#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <vector>

#include "../core/context_impl.h"
#include "../core/error.h"
#include "../core/model.h"
#include "cuda_backend.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: halfbyte_cuda_bench MODEL.gguf [prompt_tokens] [decode_tokens]\n");
    return 2;
  }
  const int64_t n_prompt = argc > 2 ? std::atoll(argv[2]) : 512, n_gen = argc > 3 ? std::atoll(argv[3]) : 64;
  std::string why;
  if (!hb::cuda::device_present(&why)) {
    std::printf("halfbyte_cuda_bench: SKIPPED, no usable CUDA device (%s)\n", why.c_str());
    return 0;
  }
  try {
    hb::LoadOptions o;
    o.threads = 4;
    auto model = hb::Model::load(argv[1], o);
    const hb::Model::Impl& m = *model->impl();
    double weight_bytes = 0;  // read per decoded token
    for (const hb::LayerWeights& L : m.layers)
      for (const hb::MatWeight* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
        if (w->tensor) weight_bytes += static_cast<double>(w->row_bytes) * static_cast<double>(w->rows);
    weight_bytes += static_cast<double>(m.output.row_bytes) * static_cast<double>(m.output.rows);
    hb::Context ctx(*model, n_prompt + n_gen + 8);
    hb::cuda::offload(ctx.impl(), model->hparams().n_layer);
    std::printf("device: %s\n", hb::cuda::device_info().c_str());
    std::vector<int32_t> prompt(static_cast<size_t>(n_prompt));
    const int64_t V = model->hparams().n_vocab;
    for (int64_t i = 0; i < n_prompt; i++) prompt[static_cast<size_t>(i)] = static_cast<int32_t>(1 + (i * 7919) % (V - 1));
    std::vector<float> logits;
    int32_t warm = 1;
    ctx.decode(&warm, 1, false, logits);  // uploads the weights
    ctx.truncate(0);
    using clk = std::chrono::steady_clock;
    auto t0 = clk::now();
    ctx.decode(prompt.data(), n_prompt, false, logits);
    const double prefill_s = std::chrono::duration<double>(clk::now() - t0).count();
    t0 = clk::now();
    for (int64_t i = 0; i < n_gen; i++) {
      const int32_t t = static_cast<int32_t>(1 + (i * 104729) % (V - 1));
      ctx.decode(&t, 1, false, logits);
    }
    const double decode_s = std::chrono::duration<double>(clk::now() - t0).count();
    int dev = 0, clock_khz = 0, bus_bits = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, dev);
    cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, dev);
    const double peak = 2.0 * clock_khz * 1e3 * bus_bits / 8.0;  // bytes/s
    const double tps = static_cast<double>(n_gen) / decode_s, bw = weight_bytes * tps;
    std::printf("weights read per token: %.2f GiB\n", weight_bytes / (1 << 30));
    std::printf("prefill: %lld tokens in %.3f s = %.1f tok/s\n", static_cast<long long>(n_prompt), prefill_s,
                static_cast<double>(n_prompt) / prefill_s);
    std::printf("decode: %lld tokens in %.3f s = %.2f tok/s, implied %.0f GB/s of %.0f GB/s peak (%.0f%%)\n",
                static_cast<long long>(n_gen), decode_s, tps, bw / 1e9, peak / 1e9, peak > 0 ? 100.0 * bw / peak : 0.0);
  } catch (const hb::Error& e) {
    std::fprintf(stderr, "halfbyte_cuda_bench: %s: %s\n", e.code().c_str(), e.what());
    return 1;
  }
  return 0;
}
