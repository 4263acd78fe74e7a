// Minimal test harness for the core's native tests (no dependencies, runs under qemu too).
// TEST(name) { CHECK(cond); CHECK_EQ(a, b); CHECK_NEAR(a, b, tol); CHECK_THROWS_CODE(expr, "CODE"); }
// The runner prints one line per failure and a closing "N passed, N failed" line.
#pragma once
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "../core/error.h"
#include "../core/error_codes.h"

namespace hbtest {

struct Case {
  const char* name;
  std::function<void()> fn;
};
std::vector<Case>& registry();
extern int g_failures_in_case;
// Directory holding test/fixtures (set by the runner from argv or HALFBYTE_FIXTURES).
const std::string& fixtures_dir();

struct Registrar {
  Registrar(const char* name, std::function<void()> fn) { registry().push_back({name, std::move(fn)}); }
};

inline void report(const char* file, int line, const std::string& what) {
  ++g_failures_in_case;
  std::fprintf(stderr, "  FAIL %s:%d: %s\n", file, line, what.c_str());
}

struct RunCounts {
  int passed = 0, failed = 0, skipped = 0;
};

// Runs every registered case whose name contains `filter` (all when null), except those `skip`
// refuses (printed "skip NAME"), with "ok NAME" or "not ok NAME" for each: the one loop of
// halfbyte_tests and halfbyte_cuda_tests.
inline RunCounts run_cases(const char* filter, const std::function<bool(const Case&)>& skip = nullptr) {
  RunCounts n;
  for (auto& c : registry()) {
    if (filter && !std::strstr(c.name, filter)) continue;
    if (skip && skip(c)) {
      ++n.skipped;
      std::printf("skip %s\n", c.name);
      continue;
    }
    g_failures_in_case = 0;
    try {
      c.fn();
    } catch (const std::exception& e) {
      report(__FILE__, __LINE__, std::string("uncaught exception: ") + e.what());
    }
    if (g_failures_in_case) {
      ++n.failed;
      std::fprintf(stderr, "not ok %s\n", c.name);
    } else {
      ++n.passed;
      std::printf("ok %s\n", c.name);
    }
  }
  return n;
}

}  // namespace hbtest

#define HB_CAT2(a, b) a##b
#define HB_CAT(a, b) HB_CAT2(a, b)
#define TEST(name)                                                                  \
  static void HB_CAT(test_fn_, name)();                                            \
  static hbtest::Registrar HB_CAT(test_reg_, name)(#name, HB_CAT(test_fn_, name)); \
  static void HB_CAT(test_fn_, name)()

#define CHECK(cond) \
  do { if (!(cond)) hbtest::report(__FILE__, __LINE__, "CHECK(" #cond ")"); } while (0)
#define CHECK_EQ(a, b)                                                                          \
  do {                                                                                          \
    auto va_ = (a); auto vb_ = (b);                                                              \
    if (!(va_ == vb_)) { std::ostringstream os_; os_ << #a " == " #b " (" << va_ << " vs " << vb_ << ")"; \
      hbtest::report(__FILE__, __LINE__, os_.str()); }                                         \
  } while (0)
#define CHECK_NEAR(a, b, tol)                                                                   \
  do {                                                                                          \
    double va_ = (a), vb_ = (b), t_ = (tol);                                                     \
    if (!(std::fabs(va_ - vb_) <= t_)) { std::ostringstream os_; os_ << #a " ~ " #b " (" << va_ << " vs " << vb_ \
      << ", tol " << t_ << ")"; hbtest::report(__FILE__, __LINE__, os_.str()); }                 \
  } while (0)
#define CHECK_THROWS_CODE(expr, want_code)                                                      \
  do {                                                                                          \
    bool threw_ = false;                                                                        \
    try { (void)(expr); } catch (const hb::Error& e_) { threw_ = true;                            \
      if (e_.code() != std::string(want_code)) hbtest::report(__FILE__, __LINE__,                \
        std::string("expected code ") + want_code + " got " + e_.code() + ": " + e_.what()); }    \
    catch (const std::exception& e_) { threw_ = true; hbtest::report(__FILE__, __LINE__,          \
        std::string("expected hb::Error ") + want_code + " got std::exception: " + e_.what()); }  \
    if (!threw_) hbtest::report(__FILE__, __LINE__, std::string("expected throw ") + want_code);  \
    if (!hb::is_error_code(want_code)) hbtest::report(__FILE__, __LINE__,                         \
        std::string("code not in native/core/error_codes.h: ") + want_code);                      \
  } while (0)
