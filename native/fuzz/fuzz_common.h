// Shared by the libFuzzer targets (native/fuzz/*.cpp, built by scripts/fuzz.mjs with clang,
// -fsanitize=fuzzer,address,undefined). The property every target checks: any input either
// works or throws hb::Error with a registered code. Anything else (a crash, a sanitizer report,
// another exception, an unregistered code, a hang past libFuzzer's -timeout) is a finding.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "../core/error.h"
#include "../core/error_codes.h"

namespace hbfuzz {

template <class Fn>
void expect_typed(Fn&& fn) {
  try {
    fn();
  } catch (const hb::Error& e) {
    if (!hb::is_error_code(e.code().c_str())) {
      std::fprintf(stderr, "unregistered error code %s: %s\n", e.code().c_str(), e.what());
      std::abort();
    }
  } catch (const std::bad_alloc&) {
    // Reported as OUT_OF_MEMORY by the addon. libFuzzer's -rss_limit_mb / -malloc_limit_mb catch
    // inputs that make the code ask for absurd sizes.
  }
  // Any other exception escapes to libFuzzer, which reports it as a crash.
}

// test/fixtures, from HALFBYTE_FIXTURES (scripts/fuzz.mjs sets it).
inline std::string fixtures() {
  const char* d = std::getenv("HALFBYTE_FIXTURES");
  return d && *d ? d : "test/fixtures";
}

}  // namespace hbfuzz
