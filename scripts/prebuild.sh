#!/usr/bin/env bash
# N-API prebuilds into prebuilds/: linux-arm64 (Debian's aarch64 cross compiler), win32-x64
# (Debian's mingw-w64; checked under wine by scripts/test-windows.sh), then the host's linux-x64
# (last, so build/ is left with the host's addon). One binary per platform serves every
# Node >= 20 and Electron; all CPU kernels are inside and chosen at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf prebuilds
if command -v aarch64-linux-gnu-g++ > /dev/null; then
  CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar \
    npx --no-install prebuildify --napi --strip --arch arm64 --strip-bin aarch64-linux-gnu-strip > /dev/null
else
  echo "prebuild: no aarch64-linux-gnu-g++ (apt-get install g++-aarch64-linux-gnu): skipping linux-arm64" >&2
fi
if command -v x86_64-w64-mingw32-g++-posix > /dev/null; then
  bash scripts/build-windows.sh addon
  mkdir -p prebuilds/win32-x64
  x86_64-w64-mingw32-strip -o prebuilds/win32-x64/halfbyte.node build-windows-addon/halfbyte.node
else
  echo "prebuild: no x86_64-w64-mingw32-g++-posix (apt-get install g++-mingw-w64-x86-64-posix): skipping win32-x64" >&2
fi
if [ -n "${HALFBYTE_PREBUILD_REUSE_BUILD:-}" ] && [ -f build/Release/halfbyte.node ]; then
  # CI: the host's addon was just built by `npm ci` with the same node-gyp Release settings
  # prebuildify uses; copying it saves a second full compile.
  host="$(node -p 'process.platform + "-" + process.arch')"
  mkdir -p "prebuilds/$host"
  strip -o "prebuilds/$host/halfbyte.node" build/Release/halfbyte.node
else
  npx --no-install prebuildify --napi --strip > /dev/null
fi
file prebuilds/*/*.node
