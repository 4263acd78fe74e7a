// The CUDA backend (built only with -DHALFBYTE_CUDA=ON): backend.h's operations on an NVIDIA
// GPU. Weights are uploaded once per model in their GGUF block layouts (quant/blocks.h), the KV
// cache lives on the device (F16, one slot per position), and the logits come back to the host.
// Every CUDA error becomes an hb::Error: GPU_OUT_OF_MEMORY for allocations, GPU_ERROR otherwise
// (the message names the call), never an abort.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "../core/backend.h"
#include "../core/ggml_types.h"

namespace hb {
struct HParams;
namespace cuda {

// Whether a CUDA device can be used; if not, *why says why (no driver, no device, ...).
bool device_present(std::string* why);
// "NAME, X MiB free of Y MiB" of the current device.
std::string device_info();

// Types with CUDA matrix kernels: Q4_0, Q8_0, Q4_K, Q5_K, Q6_K, F16 (and F32).
bool supports(GgmlType t);

// A backend for one context (its own device buffers and KV cache); the model's weights are
// uploaded on the first use and shared by every context of the model. Layers
// [0, n_gpu_layers) go to it; the output head too when every layer does.
std::unique_ptr<Backend> make_backend(void* context_impl);
// Puts the first n layers of the context on the GPU (n >= n_layer: all, output head included).
void offload(void* context_impl, int64_t n_layers);

// ---- Kernel entry points on host arrays, for the tests (cuda_tests.cpp) ----
// W (rows, n) in type t, GGUF layout, row_bytes apart @ x (ntok, n)^T -> y (ntok, rows)
void test_gemm(GgmlType t, const void* w, size_t row_bytes, int64_t rows, int64_t n, const float* x, int64_t ntok,
               float* y);
// x (rows, n) -> out = rmsnorm(x) * w
void test_rmsnorm(float* out, const float* x, const float* w, int64_t rows, int64_t n, float eps);
// vec (n_heads, hd) rotated by cs (half, 2); style 0 Normal, 1 Neox
void test_rope(float* vec, int64_t n_heads, int64_t hd, int64_t half, int style, const float* cs);
// gate (n,) = silu(gate) * up
void test_swiglu(float* gate, const float* up, int64_t n);

}  // namespace cuda
}  // namespace hb
