#!/usr/bin/env bash
# Sanitizers, then fuzzing, on one clang build (build-fuzz/: every core file with ASan + UBSan and
# fuzzer coverage; scripts/fuzz.mjs makes it):
#   1. the native tests under ASan + UBSan, with LeakSanitizer on;
#   2. a JS smoke suite against the ASan + UBSan addon (the ASan runtime LD_PRELOADed into node,
#      HALFBYTE_ADDON pointing the loader at that build);
#   3. every fuzz target for FUZZ_SECONDS (default 20) each, kept regressions replayed first.
# Needs: clang-14, libclang-rt-14-dev. Suppressions: none (each would be listed here with its evidence).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
build="$root/build-fuzz"
node scripts/fuzz.mjs --build-only

export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "== native tests, ASan + UBSan + LeakSanitizer"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 "$build/halfbyte_tests" test/fixtures > "$build/native-tests.log" 2>&1 || {
  grep -v '^ok ' "$build/native-tests.log" | tail -80; exit 1; }
tail -n 1 "$build/native-tests.log"

echo "== JS smoke suite against the ASan + UBSan addon"
asan_rt="$(clang++-14 -print-file-name=libclang_rt.asan-x86_64.so)"
test -f "$asan_rt" || { echo "no ASan runtime at $asan_rt (apt-get install libclang-rt-14-dev)"; exit 1; }
# Node itself is not built with ASan and keeps allocations to exit: leaks are checked natively above.
LD_PRELOAD="$asan_rt" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:handle_segv=1 HALFBYTE_ADDON="$build/halfbyte.node" \
  npx vitest run --typecheck.enabled=false test/api.test.ts test/malformed.test.ts test/reliability.test.ts \
  test/teardown.test.ts test/error-codes.test.ts test/grammar.test.ts test/evaluation.test.ts test/workers.test.ts

echo "== fuzzing"
node scripts/fuzz.mjs --seconds "${FUZZ_SECONDS:-20}"
