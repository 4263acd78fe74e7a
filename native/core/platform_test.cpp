// platform.h: files open without blocking and only when regular; mapping, reading, replacing.
#include <cstring>
#include <string>

#include "../tests/check.h"
#include "platform.h"

#if !defined(_WIN32)
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace {

std::string temp_name(const char* tag) {
  static int counter = 0;
  return hb::platform::temp_dir() + "/halfbyte-platform-test-" + std::to_string(hb::platform::process_id()) + "-" + tag +
         "-" + std::to_string(counter++);
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::FILE* f = hb::platform::create_file(path);
  CHECK(f != nullptr);
  if (!f) return;
  CHECK_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
  CHECK(hb::platform::flush_to_disk(f));
  std::fclose(f);
}

}  // namespace

TEST(platform_maps_and_reads_a_regular_file) {
  const std::string path = temp_name("map");
  const std::string bytes = "GGUF and some bytes after it";
  write_bytes(path, bytes);
  {
    const hb::platform::ReadOnlyFile f = hb::platform::ReadOnlyFile::open(path);
    CHECK_EQ(f.size(), uint64_t(bytes.size()));
    const uint8_t* p = f.map();
    CHECK(p != nullptr);
    if (p) {
      CHECK(std::memcmp(p, bytes.data(), bytes.size()) == 0);
      hb::platform::will_need(p, bytes.size());
      // true on Linux >= 5.14; false elsewhere (and under qemu-user, which may refuse the advice):
      // either way the bytes stay as they were.
      (void)hb::platform::populate(p, bytes.size());
      hb::platform::drop_resident_pages(p, bytes.size());  // less than a page: nothing to drop
      CHECK(std::memcmp(p, bytes.data(), bytes.size()) == 0);
      hb::platform::unmap(p, bytes.size());
    }
    char mid[4] = {};
    f.read_at(5, mid, 3);
    CHECK_EQ(std::string(mid), std::string("and"));
    char past[8];
    CHECK_THROWS_CODE(f.read_at(bytes.size() - 2, past, 8), "FILE_READ_ERROR");
  }
  hb::platform::remove_file(path);
}

// Large buffers: zero-filled, writable to the last byte, 64-byte aligned (the kernels' loads),
// released without error; a size that is not a multiple of the page size included.
TEST(platform_allocates_large_buffers) {
  for (size_t n : {size_t(1), size_t(4096 * 3 + 17), size_t(5) << 20}) {
    uint8_t* p = hb::platform::alloc_large(n);
    CHECK(p != nullptr);
    if (!p) continue;
    CHECK_EQ(reinterpret_cast<uintptr_t>(p) % 64, uintptr_t(0));
    size_t nonzero = 0;
    for (size_t i = 0; i < n; i += 997) nonzero += p[i] != 0;
    CHECK_EQ(nonzero + (p[n - 1] != 0), size_t(0));
    std::memset(p, 0x5a, n);
    CHECK_EQ(int(p[n - 1]), 0x5a);
    hb::platform::free_large(p, n);
  }
}

TEST(platform_refuses_what_is_not_a_regular_file) {
  CHECK_THROWS_CODE(hb::platform::ReadOnlyFile::open(temp_name("missing")), "FILE_NOT_FOUND");
  CHECK_THROWS_CODE(hb::platform::ReadOnlyFile::open(hb::platform::temp_dir()), "FILE_READ_ERROR");
#if !defined(_WIN32)
  // A FIFO with no writer: a blocking open would never return.
  const std::string fifo = temp_name("fifo");
  CHECK(mkfifo(fifo.c_str(), 0600) == 0);
  try {
    hb::platform::ReadOnlyFile::open(fifo);
    CHECK(!"a FIFO opened");
  } catch (const hb::Error& e) {
    CHECK_EQ(std::string(e.code()), std::string("FILE_READ_ERROR"));
    CHECK(std::string(e.what()).find("FIFO") != std::string::npos);
  }
  unlink(fifo.c_str());
  CHECK_THROWS_CODE(hb::platform::ReadOnlyFile::open("/dev/null"), "FILE_READ_ERROR");
#endif
}

TEST(platform_replaces_an_existing_file) {
  const std::string a = temp_name("a"), b = temp_name("b");
  write_bytes(a, "new");
  write_bytes(b, "old contents");
  CHECK(hb::platform::replace_file(a, b));
  const hb::platform::ReadOnlyFile f = hb::platform::ReadOnlyFile::open(b);
  CHECK_EQ(f.size(), uint64_t(3));
  CHECK_THROWS_CODE(hb::platform::ReadOnlyFile::open(a), "FILE_NOT_FOUND");
  hb::platform::remove_file(b);
}

TEST(platform_reports_the_machine) {
#if defined(__linux__) || defined(_WIN32)
  CHECK(hb::platform::physical_cores() >= 1);  // both systems say; 0 would mean the lookup failed
#endif
  const size_t page = hb::platform::page_size();
  CHECK(page >= 4096 && (page & (page - 1)) == 0);
#if defined(__linux__) || defined(_WIN32)
  CHECK(hb::platform::available_memory() > (uint64_t(16) << 20));
#endif
  hb::platform::name_this_thread("halfbyte-test-thread-with-a-long-name");
}
