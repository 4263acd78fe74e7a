// Runner for the core's native tests: halfbyte_tests [FIXTURES_DIR] [name-filter]
#include <cstdlib>
#include <cstring>
#include <exception>

#include "check.h"

namespace hbtest {
std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}
int g_failures_in_case = 0;
static std::string g_fixtures = "test/fixtures";
const std::string& fixtures_dir() { return g_fixtures; }
}  // namespace hbtest

int main(int argc, char** argv) {
  if (const char* env = std::getenv("HALFBYTE_FIXTURES")) hbtest::g_fixtures = env;
  if (argc > 1) hbtest::g_fixtures = argv[1];
  const char* filter = argc > 2 ? argv[2] : nullptr;
  int passed = 0, failed = 0;
  for (auto& c : hbtest::registry()) {
    if (filter && !std::strstr(c.name, filter)) continue;
    hbtest::g_failures_in_case = 0;
    try {
      c.fn();
    } catch (const std::exception& e) {
      hbtest::report(__FILE__, __LINE__, std::string("uncaught exception: ") + e.what());
    }
    if (hbtest::g_failures_in_case) {
      ++failed;
      std::fprintf(stderr, "not ok %s\n", c.name);
    } else {
      ++passed;
      std::printf("ok %s\n", c.name);
    }
  }
  std::printf("native: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
