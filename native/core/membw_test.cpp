// Tests of the read-bandwidth probe (membw.h): the figure is a real, finite rate and bad
// arguments are typed errors.
#include <cmath>

#include "../tests/check.h"
#include "membw.h"

TEST(membw_measures_a_finite_rate_with_each_thread_count) {
  for (int threads : {1, 2, 3}) {
    const hb::ReadBandwidth r = hb::measure_read_bandwidth(threads, size_t{8} << 20, 3);
    CHECK(std::isfinite(r.median_gbps));
    // 8 MiB in under 0.5 s and faster than light-speed nonsense: a real rate, not 0 or inf.
    CHECK(r.median_gbps > 0.016 && r.median_gbps < 10000.0);
    CHECK(r.best_gbps >= r.median_gbps);
    CHECK_EQ(r.threads, threads);
    CHECK_EQ(r.bytes, size_t{8} << 20);
    CHECK_EQ(r.passes, 3);
  }
}

TEST(membw_rejects_bad_arguments) {
  CHECK_THROWS_CODE(hb::measure_read_bandwidth(0, size_t{8} << 20, 1), "INVALID_ARGUMENT");
  CHECK_THROWS_CODE(hb::measure_read_bandwidth(2, 4096, 1), "INVALID_ARGUMENT");
  CHECK_THROWS_CODE(hb::measure_read_bandwidth(2, size_t{8} << 20, 0), "INVALID_ARGUMENT");
  CHECK_THROWS_CODE(hb::measure_read_bandwidth(2, ~size_t{0} / 2, 1), "INVALID_ARGUMENT");
}
