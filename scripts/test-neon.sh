#!/usr/bin/env bash
# Cross-compiles the core's kernel tests for arm64 and runs them under qemu-user:
#   1. -cpu max (NEON + dotprod): every ISA test covers both neon and neondot,
#   2. -cpu max with HALFBYTE_FORCE_ISA=neon: the plain NEON path as the active one,
#   3. -cpu cortex-a53 (no dotprod): detection must leave the dotprod code alone.
# Needs: apt-get install -y g++-aarch64-linux-gnu qemu-user
# Usage: scripts/test-neon.sh [test-name-filter]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/build-neon"
mkdir -p "$out"
cxx="${CXX_AARCH64:-aarch64-linux-gnu-g++}"
flags=(-O2 -std=c++17 -Wall -Wextra -Wno-unused-parameter)
# The part of the core the kernel tests link, plus every kernel file from native/sources.json (the
# x86 ones compile to nothing here, but kernel_test.cpp's references to them must resolve).
core=(native/core/ggml_types.cpp native/core/gguf.cpp native/core/platform.cpp native/core/quant/cpu_features.cpp
      native/core/quant/kernels_ref.cpp native/core/ops.cpp)
cd "$root"
read -r -a kernel_files <<< "$(node -p "const s = require('./native/sources.json'); [...s.arm_neon, ...s.x86_avx2, ...s.x86_avx512, ...s.x86_amx].join(' ')")"
core+=("${kernel_files[@]}")
tests=(native/tests/main.cpp native/core/quant/kernels_test.cpp)
cd "$root"
objs=()
for src in "${core[@]}" "${tests[@]}"; do
  obj="$out/$(basename "${src%.cpp}").o"
  "$cxx" "${flags[@]}" -c "$src" -o "$obj" &
  objs+=("$obj")
done
"$cxx" "${flags[@]}" -march=armv8.2-a+dotprod -c native/core/quant/kernels_neondot.cpp -o "$out/kernels_neondot.o" &
objs+=("$out/kernels_neondot.o")
for job in $(jobs -p); do wait "$job"; done
"$cxx" -static "${objs[@]}" -o "$out/halfbyte_kernel_tests" -lpthread

filter=("${@}")
run() { echo "== $*"; }
run "qemu-aarch64 -cpu max"
qemu-aarch64 -cpu max "$out/halfbyte_kernel_tests" test/fixtures "${filter[@]}"
run "qemu-aarch64 -cpu max, HALFBYTE_FORCE_ISA=neon"
HALFBYTE_FORCE_ISA=neon qemu-aarch64 -cpu max "$out/halfbyte_kernel_tests" test/fixtures "${filter[@]}"
run "qemu-aarch64 -cpu cortex-a53 (no dotprod)"
qemu-aarch64 -cpu cortex-a53 "$out/halfbyte_kernel_tests" test/fixtures "${filter[@]}"
