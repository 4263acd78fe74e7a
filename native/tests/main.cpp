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
  const hbtest::RunCounts n = hbtest::run_cases(filter);
  std::printf("native: %d passed, %d failed\n", n.passed, n.failed);
  return n.failed ? 1 : 0;
}
