#!/usr/bin/env bash
# Cross-compiles for 64-bit Windows with Debian's mingw-w64 (g++-mingw-w64-x86-64-posix):
#   build-windows.sh tests  -> build-windows/halfbyte_tests.exe (the core and its native tests)
#   build-windows.sh addon  -> build-windows-addon/halfbyte.node (the N-API addon)
# Fails on any compiler warning, so code that only Windows sees stays clean.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
what="${1:?tests or addon}"
case "$what" in
  tests) build="$root/build-windows"; flags=(-DHALFBYTE_TESTS=ON -DHALFBYTE_ADDON=OFF) ;;
  addon) build="$root/build-windows-addon"; flags=(-DHALFBYTE_TESTS=OFF -DHALFBYTE_ADDON=ON) ;;
  *) echo "build-windows.sh: expected tests or addon but received $what" >&2; exit 2 ;;
esac
cmake -S "$root" -B "$build" -DCMAKE_TOOLCHAIN_FILE="$root/scripts/mingw-w64-x86_64.cmake" -DCMAKE_BUILD_TYPE=Release \
  "${flags[@]}" > "$build.log" 2>&1 || { cat "$build.log"; exit 1; }
cmake --build "$build" -j "$(nproc)" >> "$build.log" 2>&1 || { grep -i -E -A3 'error' "$build.log" | head -60; exit 1; }
if grep -q 'warning:' "$build.log"; then grep -A3 'warning:' "$build.log" | head -60; echo "windows: the build warned" >&2; exit 1; fi
