#!/usr/bin/env bash
# The CUDA backend's device check, for a machine with nvcc, CMake and an NVIDIA GPU (Node not
# needed): configures and builds the CUDA variant's native targets (build-cuda/), runs
# halfbyte_cuda_tests (kernels against the scalar reference, tiny fixtures fully and partially
# offloaded), then measures prefill and decode tok/s on a 7B-shaped Q4_0 file with the read
# bandwidth decode implies. Meant to finish within ~10 minutes (an H200-class GPU).
#   HALFBYTE_BENCH_MODEL=path.gguf  use this file (default: bench/models/7b-Q4_0.gguf if present,
#                                    else one written by make_bench_model.py, random weights)
#   CUDA_ARCHS="90"                 CMAKE_CUDA_ARCHITECTURES (default: native, the GPU present)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export PATH="/usr/local/cuda/bin:$PATH"
jobs=$(( $(nproc) > 16 ? 16 : $(nproc) ))
archs="${CUDA_ARCHS:-native}"

echo "== nvidia-smi"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
echo "== configure + build (archs $archs, -j $jobs)"
start=$(date +%s)
timeout 360 cmake -S . -B build-cuda -DHALFBYTE_CUDA=ON -DHALFBYTE_ADDON=OFF -DHALFBYTE_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$archs" >/dev/null
timeout 360 cmake --build build-cuda -j "$jobs" --target halfbyte_cuda_tests halfbyte_cuda_bench
echo "build: $(( $(date +%s) - start )) s"

echo "== halfbyte_cuda_tests"
status=0
timeout 180 ./build-cuda/halfbyte_cuda_tests "$root/test/fixtures" || status=$?

echo "== 7B-shaped Q4_0: prefill and decode"
model="${HALFBYTE_BENCH_MODEL:-}"
if [ -z "$model" ] && [ -f bench/models/7b-Q4_0.gguf ]; then model=bench/models/7b-Q4_0.gguf; fi
if [ -z "$model" ]; then
  tool=""
  for t in shared/tools/make_bench_model.py ../shared/tools/make_bench_model.py; do [ -f "$t" ] && tool=$t && break; done
  if [ -n "$tool" ] && python3 -c 'import numpy' 2>/dev/null; then
    model=build-cuda/7b-Q4_0.gguf
    [ -f "$model" ] || timeout 240 python3 "$tool" "$model" --shape 7b --type Q4_0
  fi
fi
if [ -n "$model" ]; then
  timeout 180 ./build-cuda/halfbyte_cuda_bench "$model" 512 64 || status=$?
else
  echo "no 7B file: set HALFBYTE_BENCH_MODEL, or provide shared/tools/make_bench_model.py and numpy"
  status=1
fi
exit $status
