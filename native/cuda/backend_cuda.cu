// The CUDA backend (cuda_backend.h). Kernels are plain and correct first: one warp per weight
// row, each lane dequantizing whole GGUF blocks and dotting them with float activations (up to
// kTok tokens per pass, so prefill reads each weight ntok / kTok times); RMSNorm sums squares in
// double as the CPU does; attention folds chunks of positions with an online softmax.
// Shapes as in context.cpp. This file has been compiled, never run (no GPU was available).
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "../core/context_impl.h"
#include "../core/error.h"
#include "../core/quant/blocks.h"
#include "cuda_backend.h"

namespace hb {
namespace cuda {

namespace {

void check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  cudaGetLastError();  // clear a sticky-free error so the next call is not blamed
  if (e == cudaErrorMemoryAllocation)
    fail("GPU_OUT_OF_MEMORY", std::string("CUDA ran out of device memory in ") + what + ": " + cudaGetErrorString(e));
  fail("GPU_ERROR", std::string("CUDA error in ") + what + ": " + cudaGetErrorString(e));
}
void check_launch(const char* what) { check(cudaGetLastError(), what); }

// Device memory of n bytes; GPU_OUT_OF_MEMORY names the size.
struct DevBuf {
  void* p = nullptr;
  size_t n = 0;
  DevBuf() = default;
  explicit DevBuf(size_t bytes) : n(bytes) {
    const cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
      cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      fail(e == cudaErrorMemoryAllocation ? "GPU_OUT_OF_MEMORY" : "GPU_ERROR",
           "Cannot allocate " + std::to_string(bytes >> 20) + " MiB on the GPU (" + std::to_string(free_b >> 20) +
               " MiB free): " + cudaGetErrorString(e));
    }
  }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  DevBuf(DevBuf&& o) noexcept : p(o.p), n(o.n) { o.p = nullptr; }
  DevBuf& operator=(DevBuf&& o) noexcept {
    if (this != &o) {
      if (p) cudaFree(p);
      p = o.p;
      n = o.n;
      o.p = nullptr;
    }
    return *this;
  }
  ~DevBuf() {
    if (p) cudaFree(p);
  }
  template <class T>
  T* as() const { return static_cast<T*>(p); }
};

// ---- Dequantization of one GGUF block into y (block elements), per type ----

__device__ __forceinline__ float h2f(uint16_t h) { return __half2float(__ushort_as_half(h)); }

__device__ __forceinline__ void scale_min_k4(int j, const uint8_t* q, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// dot of block b (elements) with x (block elements, float), accumulated for T tokens
template <int T>
struct Acc {
  float v[T];
};

template <GgmlType TYPE>
struct BlockOf;
template <> struct BlockOf<GgmlType::Q4_0> { using B = BlockQ4_0; static constexpr int N = 32; };
template <> struct BlockOf<GgmlType::Q8_0> { using B = BlockQ8_0; static constexpr int N = 32; };
template <> struct BlockOf<GgmlType::Q4_K> { using B = BlockQ4_K; static constexpr int N = 256; };
template <> struct BlockOf<GgmlType::Q5_K> { using B = BlockQ5_K; static constexpr int N = 256; };
template <> struct BlockOf<GgmlType::Q6_K> { using B = BlockQ6_K; static constexpr int N = 256; };
template <> struct BlockOf<GgmlType::F16> { using B = uint16_t; static constexpr int N = 1; };
template <> struct BlockOf<GgmlType::F32> { using B = float; static constexpr int N = 1; };

// fn(e, w): every element e of the block with its value w.
template <GgmlType TYPE, class Fn>
__device__ __forceinline__ void each(const typename BlockOf<TYPE>::B& b, Fn fn) {
  if constexpr (TYPE == GgmlType::Q4_0) {
    const float d = h2f(b.d);
    for (int j = 0; j < 16; j++) {
      fn(j, d * ((b.qs[j] & 15) - 8));
      fn(j + 16, d * ((b.qs[j] >> 4) - 8));
    }
  } else if constexpr (TYPE == GgmlType::Q8_0) {
    const float d = h2f(b.d);
    for (int j = 0; j < 32; j++) fn(j, d * b.qs[j]);
  } else if constexpr (TYPE == GgmlType::Q4_K || TYPE == GgmlType::Q5_K) {
    const float d = h2f(b.d), dmin = h2f(b.dmin);
    for (int j = 0; j < 4; j++) {
      int sc1, m1, sc2, m2;
      scale_min_k4(2 * j, b.scales, &sc1, &m1);
      scale_min_k4(2 * j + 1, b.scales, &sc2, &m2);
      const float d1 = d * sc1, mm1 = dmin * m1, d2 = d * sc2, mm2 = dmin * m2;
      for (int l = 0; l < 32; l++) {
        int lo = b.qs[32 * j + l] & 0xF, hi = b.qs[32 * j + l] >> 4;
        if constexpr (TYPE == GgmlType::Q5_K) {
          lo += (b.qh[l] >> (2 * j)) & 1 ? 16 : 0;
          hi += (b.qh[l] >> (2 * j + 1)) & 1 ? 16 : 0;
        }
        fn(64 * j + l, d1 * lo - mm1);
        fn(64 * j + 32 + l, d2 * hi - mm2);
      }
    }
  } else if constexpr (TYPE == GgmlType::Q6_K) {
    const float d = h2f(b.d);
    for (int h = 0; h < 2; h++) {
      const uint8_t* ql = b.ql + 64 * h;
      const uint8_t* qh = b.qh + 32 * h;
      const int8_t* sc = b.scales + 8 * h;
      for (int l = 0; l < 32; l++) {
        const int is = l / 16;
        fn(128 * h + l, d * sc[is] * (((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32));
        fn(128 * h + l + 32, d * sc[is + 2] * (((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32));
        fn(128 * h + l + 64, d * sc[is + 4] * (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32));
        fn(128 * h + l + 96, d * sc[is + 6] * (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32));
      }
    }
  } else if constexpr (TYPE == GgmlType::F16) {
    fn(0, h2f(b));
  } else {
    fn(0, b);
  }
}

constexpr int kTok = 8;       // tokens per pass of the matrix kernel
constexpr int kWarps = 4;     // rows (warps) per thread block

// W (rows, n) @ X (ntok, n)^T -> Y (ntok, rows), Y rows y_stride apart: warp per row, tokens
// blockIdx.y * kTok ... Lanes take blocks (32-element types: a block per lane per step).
template <GgmlType TYPE>
__global__ void gemm_kernel(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const float* x,
                            size_t x_stride, int64_t ntok, float* y, size_t y_stride) {
  using B = typename BlockOf<TYPE>::B;
  constexpr int QK = BlockOf<TYPE>::N;
  const int lane = threadIdx.x & 31;
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (r >= rows) return;
  const int64_t t0 = static_cast<int64_t>(blockIdx.y) * kTok;
  const int nt = static_cast<int>(ntok - t0 < kTok ? ntok - t0 : kTok);
  const B* row = reinterpret_cast<const B*>(w + static_cast<size_t>(r) * row_bytes);
  float acc[kTok];
  for (int t = 0; t < kTok; t++) acc[t] = 0.0f;
  const int64_t nb = n / QK;
  for (int64_t ib = lane; ib < nb; ib += 32) {
    const float* xb = x + t0 * x_stride + ib * QK;
    each<TYPE>(row[ib], [&](int e, float v) {
#pragma unroll
      for (int t = 0; t < kTok; t++)
        if (t < nt) acc[t] += v * xb[t * x_stride + e];
    });
  }
  for (int t = 0; t < nt; t++) {
    float s = acc[t];
    for (int o = 16; o > 0; o >>= 1) s += __shfl_down_sync(0xffffffffu, s, o);
    if (lane == 0) y[(t0 + t) * y_stride + r] = s;
  }
}

void gemm(GgmlType t, int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const float* x, size_t x_stride,
          int64_t ntok, float* y, size_t y_stride, cudaStream_t st) {
  if (ntok <= 0 || rows <= 0) return;
  const dim3 grid(static_cast<unsigned>((rows + kWarps - 1) / kWarps), static_cast<unsigned>((ntok + kTok - 1) / kTok));
  const dim3 block(32 * kWarps);
#define HB_GEMM(T) \
  case GgmlType::T: gemm_kernel<GgmlType::T><<<grid, block, 0, st>>>(n, w, row_bytes, rows, x, x_stride, ntok, y, y_stride); break;
  switch (t) {
    HB_GEMM(Q4_0) HB_GEMM(Q8_0) HB_GEMM(Q4_K) HB_GEMM(Q5_K) HB_GEMM(Q6_K) HB_GEMM(F16) HB_GEMM(F32)
    default: fail("UNSUPPORTED_TENSOR_TYPE", "The CUDA backend has no kernel for tensor type " + std::to_string(int(t)));
  }
#undef HB_GEMM
  check_launch("gemm");
}

// x (rows, n) -> out = x / sqrt(mean(x^2) + eps) * w: block per row, squares summed in double
__global__ void rmsnorm_kernel(float* out, const float* x, const float* w, int64_t n, float eps) {
  __shared__ double part[256];
  const float* xr = x + blockIdx.x * n;
  float* o = out + blockIdx.x * n;
  double s = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += static_cast<double>(xr[i] * xr[i]);
  part[threadIdx.x] = s;
  __syncthreads();
  for (int k = blockDim.x / 2; k > 0; k >>= 1) {
    if (threadIdx.x < k) part[threadIdx.x] += part[threadIdx.x + k];
    __syncthreads();
  }
  const float mean = static_cast<float>(part[0] / static_cast<double>(n));
  const float scale = 1.0f / sqrtf(mean + eps);
  __syncthreads();
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) o[i] = (xr[i] * scale) * w[i];
}

__global__ void add_bias_kernel(float* y, const float* b, int64_t rows, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < rows * n) y[i] += b[i % n];
}
__global__ void add_kernel(float* x, const float* y, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) x[i] += y[i];
}
__global__ void softcap_kernel(float* x, int64_t n, float cap) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) x[i] = cap * tanhf(x[i] / cap);
}
// gate = silu(gate) * up, or gelu_tanh(gate) * up
__global__ void gated_kernel(float* g, const float* u, int64_t n, int gelu) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const float x = g[i];
  float a;
  if (gelu) a = 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x)));
  else a = x / (1.0f + expf(-x));
  g[i] = a * u[i];
}
// vec rows (rows, n_heads, hd): pair p of head h rotated by cs (row, half, 2); q *= q_scale
__global__ void rope_kernel(float* vec, int64_t rows, int64_t n_heads, int64_t hd, int64_t half, int neox,
                            const float* cs, float q_scale) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= rows * n_heads * half) return;
  const int64_t p = i % half, h = (i / half) % n_heads, t = i / (half * n_heads);
  float* v = vec + (t * n_heads + h) * hd;
  const float c = cs[(t * half + p) * 2], s = cs[(t * half + p) * 2 + 1];
  const int64_t a = neox ? p : 2 * p, b = neox ? p + half : 2 * p + 1;
  const float x0 = v[a], x1 = v[b];
  v[a] = x0 * c - x1 * s;
  v[b] = x0 * s + x1 * c;
  if (q_scale != 0.0f) {  // the pairs cover 2 * half dims; the rest is scaled by p == 0's thread
    v[a] *= q_scale;
    v[b] *= q_scale;
    if (p == 0)
      for (int64_t j = 2 * half; j < hd; j++) v[j] *= q_scale;
  }
}
__global__ void scale_kernel(float* x, int64_t n, float s) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) x[i] *= s;
}

// One segment of the batch as the device sees it: its rows and its KV cache of the layer
// (K and V (n_ctx, n_kv) F16, one slot per position).
struct DevSeg {
  int64_t row0, n, p0;
  __half* k;
  __half* v;
};

// k, v (B, n_kv) -> each segment's cache rows at positions p0 + j
__global__ void kv_store_kernel(const DevSeg* segs, int64_t n_segs, const float* k, const float* v, int64_t n_kv) {
  const DevSeg sg = segs[blockIdx.y];
  for (int64_t j = 0; j < sg.n; j++)
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n_kv;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
      const int64_t t = sg.row0 + j, pos = sg.p0 + j;
      sg.k[pos * n_kv + i] = __float2half(k[t * n_kv + i]);
      sg.v[pos * n_kv + i] = __float2half(v[t * n_kv + i]);
    }
}

constexpr int kAttnThreads = 128;  // positions per chunk, one per thread
// att row t, head h = softmax over visible positions of (q . K[p]) * scale (soft-capped) @ V:
// block per (batch row, query head); chunks of kAttnThreads positions folded online.
__global__ void attention_kernel(const DevSeg* segs, const int64_t* row_seg, int64_t r0, const float* q, float* att,
                                 int64_t n_q, int64_t n_kv, int64_t hd, int64_t G, float scale, float cap, int64_t W) {
  extern __shared__ float sm[];  // q (hd), e (kAttnThreads), o (hd), red (kAttnThreads)
  float* qs = sm;
  float* e = qs + hd;
  float* o = e + kAttnThreads;
  float* red = o + hd;
  const int64_t t = r0 + blockIdx.x, h = blockIdx.y, hk = h / G;
  const DevSeg sg = segs[row_seg[t]];
  const int64_t pos = sg.p0 + (t - sg.row0);
  const int64_t lo = W > 0 && pos - W + 1 > 0 ? pos - W + 1 : 0;
  for (int64_t i = threadIdx.x; i < hd; i += blockDim.x) {
    qs[i] = q[t * n_q + h * hd + i];
    o[i] = 0.0f;
  }
  float m = -INFINITY, s = 0.0f;
  __syncthreads();
  for (int64_t c0 = lo; c0 <= pos; c0 += kAttnThreads) {
    const int64_t p = c0 + threadIdx.x;
    float sc = -INFINITY;
    if (p <= pos) {
      const __half* kr = sg.k + p * n_kv + hk * hd;
      float d = 0.0f;
      for (int64_t i = 0; i < hd; i++) d += qs[i] * __half2float(kr[i]);
      sc = d * scale;
      if (cap > 0) sc = cap * tanhf(sc / cap);
    }
    red[threadIdx.x] = sc;
    __syncthreads();
    for (int k = kAttnThreads / 2; k > 0; k >>= 1) {
      if (threadIdx.x < k) red[threadIdx.x] = fmaxf(red[threadIdx.x], red[threadIdx.x + k]);
      __syncthreads();
    }
    const float mc = red[0], mn = fmaxf(m, mc);
    __syncthreads();
    const float ev = p <= pos ? expf(sc - mn) : 0.0f;
    e[threadIdx.x] = ev;
    red[threadIdx.x] = ev;
    __syncthreads();
    for (int k = kAttnThreads / 2; k > 0; k >>= 1) {
      if (threadIdx.x < k) red[threadIdx.x] += red[threadIdx.x + k];
      __syncthreads();
    }
    const float corr = expf(m - mn);  // 0 on the first chunk (m = -inf)
    s = s * corr + red[0];
    const int64_t len = pos + 1 - c0 < kAttnThreads ? pos + 1 - c0 : kAttnThreads;
    for (int64_t i = threadIdx.x; i < hd; i += blockDim.x) {
      float acc = o[i] * corr;
      for (int64_t j = 0; j < len; j++) acc += e[j] * __half2float(sg.v[(c0 + j) * n_kv + hk * hd + i]);
      o[i] = acc;
    }
    m = mn;
    __syncthreads();
  }
  for (int64_t i = threadIdx.x; i < hd; i += blockDim.x) att[t * n_q + h * hd + i] = o[i] / s;
}

unsigned blocks_for(int64_t n, int per = 256) { return static_cast<unsigned>((n + per - 1) / per); }

// ---- Weights: one device copy per model, found by the host handle ----

struct DeviceWeights {
  std::map<const void*, DevBuf> mats;  // by MatWeight::gguf_data (rows in the GGUF layout)
  std::map<const void*, DevBuf> vecs;  // by VecWeight::data
  size_t bytes = 0;
};
std::mutex g_weights_mu;
std::map<const void*, std::weak_ptr<DeviceWeights>> g_weights;  // by Model::Impl

const uint8_t* upload_mat(DeviceWeights& dw, const MatWeight& w) {
  auto it = dw.mats.find(w.gguf_data);
  if (it != dw.mats.end()) return it->second.as<uint8_t>();
  if (!supports(w.type))
    fail("UNSUPPORTED_TENSOR_TYPE", "The CUDA backend has no kernel for tensor " + (w.tensor ? w.tensor->name : "?") +
                                        "'s type; offload fewer layers");
  const size_t bytes = w.row_bytes * static_cast<size_t>(w.rows);
  DevBuf b(bytes);
  check(cudaMemcpy(b.p, w.gguf_data, bytes, cudaMemcpyHostToDevice), "cudaMemcpy (weights)");
  dw.bytes += bytes;
  return dw.mats.emplace(w.gguf_data, std::move(b)).first->second.as<uint8_t>();
}
const float* upload_vec(DeviceWeights& dw, const VecWeight& v) {
  auto it = dw.vecs.find(v.data);
  if (it != dw.vecs.end()) return it->second.as<float>();
  DevBuf b(sizeof(float) * static_cast<size_t>(v.n));
  check(cudaMemcpy(b.p, v.data, b.n, cudaMemcpyHostToDevice), "cudaMemcpy (vectors)");
  return dw.vecs.emplace(v.data, std::move(b)).first->second.as<float>();
}

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(Context::Impl& c) : c_(c), hp_(c.hp) {
    std::string why;
    if (!device_present(&why)) fail("GPU_ERROR", "No usable CUDA device: " + why);
    check(cudaStreamCreate(&st_), "cudaStreamCreate");
    {
      std::lock_guard<std::mutex> lock(g_weights_mu);
      std::weak_ptr<DeviceWeights>& slot = g_weights[&c.m];
      w_ = slot.lock();
      if (!w_) slot = w_ = std::make_shared<DeviceWeights>();
    }
    const size_t B = static_cast<size_t>(c.max_batch), D = static_cast<size_t>(hp_.n_embd);
    const size_t F = static_cast<size_t>(std::max(hp_.n_ff, hp_.n_ff_exp));
    const size_t nq = static_cast<size_t>(c.n_q), nkv = static_cast<size_t>(c.n_kv);
    const size_t V = static_cast<size_t>(hp_.n_vocab);
    const size_t sizes[10] = {B * D, B * D, B * D, B * nq, B * nkv, B * nkv, B * nq, B * F, B * F, B * std::max(V, D)};
    float** dst[10] = {&s_.x, &s_.xb, &s_.xb2, &s_.q, &s_.k, &s_.v, &s_.att, &s_.hb, &s_.hb2, &s_.out};
    for (int i = 0; i < 10; i++) {
      bufs_.emplace_back(sizes[i] * sizeof(float));
      *dst[i] = bufs_.back().as<float>();
    }
    cs_ = DevBuf(sizeof(float) * hp_.ropes.size() * B * static_cast<size_t>(hp_.rope_dim));
    segs_ = DevBuf(sizeof(DevSeg) * B);
    row_seg_ = DevBuf(sizeof(int64_t) * B);
    // The KV cache: K and V (n_ctx, n_kv) F16 per layer, every position kept.
    const size_t per_layer = static_cast<size_t>(c.n_ctx) * nkv * sizeof(__half);
    kv_ = DevBuf(2 * per_layer * static_cast<size_t>(hp_.n_layer));
    kv_layer_bytes_ = per_layer;
  }
  ~CudaBackend() override {
    if (st_) cudaStreamDestroy(st_);
  }
  const char* name() const override { return "cuda"; }
  Scratch& scratch() override { return s_; }
  bool host_memory() const override { return false; }
  void to_backend(float* dst, const float* host, size_t n) override {
    check(cudaMemcpyAsync(dst, host, n * sizeof(float), cudaMemcpyHostToDevice, st_), "cudaMemcpyAsync (to device)");
  }
  void to_host(float* host, const float* src, size_t n) override {
    check(cudaMemcpyAsync(host, src, n * sizeof(float), cudaMemcpyDeviceToHost, st_), "cudaMemcpyAsync (to host)");
    check(cudaStreamSynchronize(st_), "cudaStreamSynchronize");
  }
  void set_rope_angles(const float* host_cs, size_t n) override {
    check(cudaMemcpyAsync(cs_.p, host_cs, n * sizeof(float), cudaMemcpyHostToDevice, st_), "cudaMemcpyAsync (rope)");
    check(cudaStreamSynchronize(st_), "cudaStreamSynchronize");  // host_cs is reused by the next batch
  }
  void matmuls(const MatJob* jobs, int n_jobs) override {
    for (int j = 0; j < n_jobs; j++) {
      const MatJob& jb = jobs[j];
      const MatWeight& w = *jb.w;
      const int64_t ntok = jb.ntok < 0 ? jb.in->ntok : jb.ntok;
      const uint8_t* dw = upload_mat(*w_, w);
      gemm(w.type, w.n, dw, w.row_bytes, w.rows, jb.in->x + jb.row0 * jb.in->n, static_cast<size_t>(jb.in->n), ntok,
           jb.y, jb.y_stride, st_);
    }
  }
  void rmsnorm(float* out, const float* x, const VecWeight& w, int64_t rows, int64_t n, float eps) override {
    if (rows <= 0) return;
    rmsnorm_kernel<<<static_cast<unsigned>(rows), 256, 0, st_>>>(out, x, upload_vec(*w_, w), n, eps);
    check_launch("rmsnorm");
  }
  void add_bias(float* y, const VecWeight& b, int64_t rows, int64_t n) override {
    add_bias_kernel<<<blocks_for(rows * n), 256, 0, st_>>>(y, upload_vec(*w_, b), rows, n);
    check_launch("add_bias");
  }
  void add(float* x, const float* y, int64_t n) override {
    if (n <= 0) return;
    add_kernel<<<blocks_for(n), 256, 0, st_>>>(x, y, n);
    check_launch("add");
  }
  void rope(float* q, float* k, int64_t B, int64_t rope, RopeStyle style, float q_scale) override {
    const int64_t half = hp_.rope_dim / 2, hd = hp_.head_dim;
    const float* cs = cs_.as<float>() + static_cast<size_t>(rope) * static_cast<size_t>(B * 2 * half);
    const int neox = style == RopeStyle::Neox;
    if (half > 0) {
      rope_kernel<<<blocks_for(B * hp_.n_head * half), 256, 0, st_>>>(q, B, hp_.n_head, hd, half, neox, cs, q_scale);
      rope_kernel<<<blocks_for(B * hp_.n_head_kv * half), 256, 0, st_>>>(k, B, hp_.n_head_kv, hd, half, neox, cs, 0.0f);
    } else if (q_scale != 0.0f) {
      scale_kernel<<<blocks_for(B * c_.n_q), 256, 0, st_>>>(q, B * c_.n_q, q_scale);
    }
    check_launch("rope");
  }
  void gated_activation(FfnActivation act, float* gate, const float* up, int64_t n) override {
    gated_kernel<<<blocks_for(n), 256, 0, st_>>>(gate, up, n, act == FfnActivation::GeluTanhGated);
    check_launch("gated_activation");
  }
  void softcap(float* x, int64_t n, float cap) override {
    softcap_kernel<<<blocks_for(n), 256, 0, st_>>>(x, n, cap);
    check_launch("softcap");
  }
  void kv_store(int64_t il, const Segment* segs, int64_t n_segs, const float* k, const float* v) override {
    upload_segs(il, segs, n_segs);
    kv_store_kernel<<<dim3(blocks_for(c_.n_kv), static_cast<unsigned>(n_segs)), 256, 0, st_>>>(
        segs_.as<DevSeg>(), n_segs, k, v, c_.n_kv);
    check_launch("kv_store");
  }
  void attention(int64_t il, const Segment* segs, int64_t n_segs, int64_t r0, const float* q, float* att) override {
    upload_segs(il, segs, n_segs);
    const int64_t B = segs[n_segs - 1].row0 + segs[n_segs - 1].n, hd = hp_.head_dim;
    if (B - r0 <= 0) return;
    const float scale = hp_.scale_q ? 1.0f : hp_.attn_scale;
    const size_t shm = sizeof(float) * static_cast<size_t>(2 * hd + 2 * kAttnThreads);
    attention_kernel<<<dim3(static_cast<unsigned>(B - r0), static_cast<unsigned>(hp_.n_head)), kAttnThreads, shm, st_>>>(
        segs_.as<DevSeg>(), row_seg_.as<int64_t>(), r0, q, att, c_.n_q, c_.n_kv, hd, c_.group, scale, hp_.attn_softcap,
        hp_.layer_cfg[static_cast<size_t>(il)].window);
    check_launch("attention");
  }
  void moe_ffn(const LayerWeights&, const float*, float*, int64_t, int64_t) override {
    fail("GPU_ERROR", "The CUDA backend does not run mixture-of-experts layers yet; offload fewer layers");
  }

  __half* kv_k(int64_t il) const { return reinterpret_cast<__half*>(kv_.as<uint8_t>() + 2 * il * kv_layer_bytes_); }
  __half* kv_v(int64_t il) const {
    return reinterpret_cast<__half*>(kv_.as<uint8_t>() + (2 * il + 1) * kv_layer_bytes_);
  }

 private:
  // The segments with each one's device cache of layer il, and every batch row's segment.
  void upload_segs(int64_t il, const Segment* segs, int64_t n_segs) {
    host_segs_.resize(static_cast<size_t>(n_segs));
    host_row_seg_.clear();
    for (int64_t i = 0; i < n_segs; i++) {
      Context::Impl& sc = Context::Impl::of(segs[i]);
      CudaBackend* owner = dynamic_cast<CudaBackend*>(sc.device.get());
      if (!owner) fail("INTERNAL", "A sequence of a GPU batch has no GPU cache");
      host_segs_[static_cast<size_t>(i)] = {segs[i].row0, segs[i].n, segs[i].p0, owner->kv_k(il), owner->kv_v(il)};
      host_row_seg_.resize(static_cast<size_t>(segs[i].row0 + segs[i].n), i);
    }
    check(cudaMemcpyAsync(segs_.p, host_segs_.data(), sizeof(DevSeg) * host_segs_.size(), cudaMemcpyHostToDevice, st_),
          "cudaMemcpyAsync (segments)");
    check(cudaMemcpyAsync(row_seg_.p, host_row_seg_.data(), sizeof(int64_t) * host_row_seg_.size(),
                          cudaMemcpyHostToDevice, st_),
          "cudaMemcpyAsync (rows)");
    check(cudaStreamSynchronize(st_), "cudaStreamSynchronize");  // the host arrays are reused
  }

  Context::Impl& c_;
  const HParams& hp_;
  cudaStream_t st_ = nullptr;
  std::shared_ptr<DeviceWeights> w_;
  Scratch s_;
  std::vector<DevBuf> bufs_;
  DevBuf cs_, segs_, row_seg_, kv_;
  size_t kv_layer_bytes_ = 0;
  std::vector<DevSeg> host_segs_;
  std::vector<int64_t> host_row_seg_;
};

}  // namespace

bool device_present(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    if (why) *why = cudaGetErrorString(e);
    return false;
  }
  if (n == 0) {
    if (why) *why = "no CUDA device";
    return false;
  }
  return true;
}

std::string device_info() {
  cudaDeviceProp p;
  int dev = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  check(cudaGetDeviceProperties(&p, dev), "cudaGetDeviceProperties");
  size_t free_b = 0, total_b = 0;
  check(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
  return std::string(p.name) + ", " + std::to_string(free_b >> 20) + " MiB free of " + std::to_string(total_b >> 20) +
         " MiB, memory bus " + std::to_string(p.memoryBusWidth) + " bits";
}

bool supports(GgmlType t) {
  switch (t) {
    case GgmlType::Q4_0: case GgmlType::Q8_0: case GgmlType::Q4_K: case GgmlType::Q5_K: case GgmlType::Q6_K:
    case GgmlType::F16: case GgmlType::F32:
      return true;
    default:
      return false;
  }
}

std::unique_ptr<Backend> make_backend(void* context_impl) {
  return std::unique_ptr<Backend>(new CudaBackend(*static_cast<Context::Impl*>(context_impl)));
}

void offload(void* context_impl, int64_t n_layers) {
  Context::Impl& c = *static_cast<Context::Impl*>(context_impl);
  if (!c.device) c.device = make_backend(&c);
  const int64_t n = std::min<int64_t>(std::max<int64_t>(n_layers, 0), c.hp.n_layer);
  // [0, n) on the GPU; the rest (and the head, unless n is every layer) on the CPU
  if (n == c.hp.n_layer) c.set_split(c.device.get(), c.device.get(), n);
  else c.set_split(c.device.get(), c.cpu.get(), n);
}

// ---- Test entry points ----

void test_gemm(GgmlType t, const void* w, size_t row_bytes, int64_t rows, int64_t n, const float* x, int64_t ntok,
               float* y) {
  DevBuf dw(row_bytes * static_cast<size_t>(rows)), dx(sizeof(float) * static_cast<size_t>(ntok * n)),
      dy(sizeof(float) * static_cast<size_t>(ntok * rows));
  check(cudaMemcpy(dw.p, w, dw.n, cudaMemcpyHostToDevice), "cudaMemcpy");
  check(cudaMemcpy(dx.p, x, dx.n, cudaMemcpyHostToDevice), "cudaMemcpy");
  gemm(t, n, dw.as<uint8_t>(), row_bytes, rows, dx.as<float>(), static_cast<size_t>(n), ntok, dy.as<float>(),
       static_cast<size_t>(rows), 0);
  check(cudaMemcpy(y, dy.p, dy.n, cudaMemcpyDeviceToHost), "cudaMemcpy");
}

void test_rmsnorm(float* out, const float* x, const float* w, int64_t rows, int64_t n, float eps) {
  DevBuf dx(sizeof(float) * static_cast<size_t>(rows * n)), dw(sizeof(float) * static_cast<size_t>(n));
  check(cudaMemcpy(dx.p, x, dx.n, cudaMemcpyHostToDevice), "cudaMemcpy");
  check(cudaMemcpy(dw.p, w, dw.n, cudaMemcpyHostToDevice), "cudaMemcpy");
  rmsnorm_kernel<<<static_cast<unsigned>(rows), 256>>>(dx.as<float>(), dx.as<float>(), dw.as<float>(), n, eps);
  check_launch("rmsnorm");
  check(cudaMemcpy(out, dx.p, dx.n, cudaMemcpyDeviceToHost), "cudaMemcpy");
}

void test_rope(float* vec, int64_t n_heads, int64_t hd, int64_t half, int style, const float* cs) {
  DevBuf dv(sizeof(float) * static_cast<size_t>(n_heads * hd)), dc(sizeof(float) * static_cast<size_t>(2 * half));
  check(cudaMemcpy(dv.p, vec, dv.n, cudaMemcpyHostToDevice), "cudaMemcpy");
  check(cudaMemcpy(dc.p, cs, dc.n, cudaMemcpyHostToDevice), "cudaMemcpy");
  rope_kernel<<<blocks_for(n_heads * half), 256>>>(dv.as<float>(), 1, n_heads, hd, half, style, dc.as<float>(), 0.0f);
  check_launch("rope");
  check(cudaMemcpy(vec, dv.p, dv.n, cudaMemcpyDeviceToHost), "cudaMemcpy");
}

void test_swiglu(float* gate, const float* up, int64_t n) {
  DevBuf dg(sizeof(float) * static_cast<size_t>(n)), du(sizeof(float) * static_cast<size_t>(n));
  check(cudaMemcpy(dg.p, gate, dg.n, cudaMemcpyHostToDevice), "cudaMemcpy");
  check(cudaMemcpy(du.p, up, du.n, cudaMemcpyHostToDevice), "cudaMemcpy");
  gated_kernel<<<blocks_for(n), 256>>>(dg.as<float>(), du.as<float>(), n, 0);
  check_launch("swiglu");
  check(cudaMemcpy(gate, dg.p, dg.n, cudaMemcpyDeviceToHost), "cudaMemcpy");
}

}  // namespace cuda
}  // namespace hb
