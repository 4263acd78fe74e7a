#include "platform.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "error.h"

#if defined(_WIN32)
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
#include <fcntl.h>
#include <io.h>
#include <process.h>
#else
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif
#if defined(__linux__)
#include <sched.h>
#endif
#if defined(__APPLE__)
#include <sys/sysctl.h>
#endif

namespace hb {
namespace platform {

#if defined(_WIN32)

namespace {

std::wstring widen(const std::string& s) {
  if (s.empty()) return std::wstring();
  const int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s.data(), static_cast<int>(s.size()), nullptr, 0);
  if (n <= 0) fail("INVALID_ARGUMENT", "Expected a UTF-8 path but received bytes that are not UTF-8: " + s);
  std::wstring w(static_cast<size_t>(n), L'\0');
  MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), &w[0], n);
  return w;
}

std::string windows_error(DWORD e) {
  char buf[256];
  DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, nullptr, e, 0, buf, sizeof buf, nullptr);
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == '.')) n--;
  return n > 0 ? std::string(buf, n) : "Windows error " + std::to_string(e);
}

HANDLE as_handle(intptr_t h) { return reinterpret_cast<HANDLE>(h); }

}  // namespace

ReadOnlyFile ReadOnlyFile::open(const std::string& path) {
  const std::wstring w = widen(path);
  const DWORD attrs = GetFileAttributesW(w.c_str());
  if (attrs != INVALID_FILE_ATTRIBUTES && (attrs & FILE_ATTRIBUTE_DIRECTORY))
    fail("FILE_READ_ERROR", "Expected a regular file for " + path + " but received a directory");
  // Without FILE_FLAG_OVERLAPPED a pipe would block on read, so anything but a disk file is
  // refused right after opening (CreateFileW itself returns at once).
  HANDLE h = CreateFileW(w.c_str(), GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr,
                         OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr);
  if (h == INVALID_HANDLE_VALUE) {
    const DWORD e = GetLastError();
    if (e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND) fail("FILE_NOT_FOUND", "No such file: " + path);
    fail("FILE_READ_ERROR", "Cannot open " + path + ": " + windows_error(e));
  }
  const DWORD type = GetFileType(h);
  if (type != FILE_TYPE_DISK) {
    CloseHandle(h);
    fail("FILE_READ_ERROR", "Expected a regular file for " + path + " but received " +
                                (type == FILE_TYPE_PIPE ? "a pipe" : type == FILE_TYPE_CHAR ? "a character device" : "something else"));
  }
  LARGE_INTEGER size;
  if (!GetFileSizeEx(h, &size)) {
    const DWORD e = GetLastError();
    CloseHandle(h);
    fail("FILE_READ_ERROR", "Cannot read the size of " + path + ": " + windows_error(e));
  }
  return ReadOnlyFile(path, reinterpret_cast<intptr_t>(h), static_cast<uint64_t>(size.QuadPart));
}

ReadOnlyFile::~ReadOnlyFile() {
  if (handle_ != -1) CloseHandle(as_handle(handle_));
}

const uint8_t* ReadOnlyFile::map() const {
  if (size_ == 0 || size_ > SIZE_MAX) return nullptr;
  HANDLE m = CreateFileMappingW(as_handle(handle_), nullptr, PAGE_READONLY, 0, 0, nullptr);
  if (!m) return nullptr;
  void* p = MapViewOfFile(m, FILE_MAP_READ, 0, 0, 0);
  CloseHandle(m);  // the view keeps the mapping object alive
  return static_cast<const uint8_t*>(p);
}

void ReadOnlyFile::read_at(uint64_t offset, void* dst, size_t n) const {
  uint8_t* out = static_cast<uint8_t*>(dst);
  while (n > 0) {
    OVERLAPPED ov = {};
    ov.Offset = static_cast<DWORD>(offset);
    ov.OffsetHigh = static_cast<DWORD>(offset >> 32);
    const DWORD want = n > (1u << 30) ? (1u << 30) : static_cast<DWORD>(n);
    DWORD got = 0;
    if (!ReadFile(as_handle(handle_), out, want, &got, &ov))
      fail("FILE_READ_ERROR", "Cannot read " + path_ + ": " + windows_error(GetLastError()));
    if (got == 0) fail("FILE_READ_ERROR", "Cannot read " + path_ + ": the file ended early");
    out += got, offset += got, n -= got;
  }
}

std::FILE* ReadOnlyFile::into_stdio() {
  const int fd = _open_osfhandle(handle_, _O_RDONLY | _O_BINARY);
  if (fd < 0) fail("FILE_READ_ERROR", "Cannot open " + path_ + " for reading");
  handle_ = -1;  // the descriptor owns the handle now
  std::FILE* f = _fdopen(fd, "rb");
  if (!f) {
    _close(fd);
    fail("FILE_READ_ERROR", "Cannot open " + path_ + " for reading");
  }
  return f;
}

void unmap(const uint8_t* data, uint64_t) { UnmapViewOfFile(data); }

size_t page_size() {
  SYSTEM_INFO si;
  GetSystemInfo(&si);
  return si.dwPageSize ? si.dwPageSize : 4096;
}

void drop_resident_pages(const uint8_t* p, size_t n) {
  const uintptr_t page = page_size();
  const uintptr_t a = (reinterpret_cast<uintptr_t>(p) + page - 1) & ~(page - 1);
  const uintptr_t e = (reinterpret_cast<uintptr_t>(p) + n) & ~(page - 1);
  // VirtualUnlock on pages that are not locked takes them out of the working set (documented);
  // it then reports ERROR_NOT_LOCKED, which is expected.
  if (e > a) VirtualUnlock(reinterpret_cast<void*>(a), e - a);
}

uint8_t* alloc_large(size_t n) {
  // Committed at once (zero pages, charged to the commit limit) like the heap would.
  return static_cast<uint8_t*>(VirtualAlloc(nullptr, n ? n : 1, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE));
}

void free_large(uint8_t* p, size_t) {
  if (p) VirtualFree(p, 0, MEM_RELEASE);
}

bool populate(const uint8_t*, size_t) { return false; }

void will_need(const uint8_t* p, size_t n) {
  // PrefetchVirtualMemory exists from Windows 8 (Node 20 needs 10); looked up so the binary
  // still loads where it is missing.
  using Fn = BOOL(WINAPI*)(HANDLE, ULONG_PTR, PWIN32_MEMORY_RANGE_ENTRY, ULONG);
  static const Fn fn = reinterpret_cast<Fn>(
      reinterpret_cast<void*>(GetProcAddress(GetModuleHandleW(L"kernel32.dll"), "PrefetchVirtualMemory")));
  if (!fn || n == 0) return;
  WIN32_MEMORY_RANGE_ENTRY range;
  range.VirtualAddress = const_cast<uint8_t*>(p);
  range.NumberOfBytes = n;
  fn(GetCurrentProcess(), 1, &range, 0);
}

std::FILE* create_file(const std::string& path) { return _wfopen(widen(path).c_str(), L"wb"); }

bool replace_file(const std::string& from, const std::string& to) {
  if (MoveFileExW(widen(from).c_str(), widen(to).c_str(), MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) return true;
  errno = EACCES;
  return false;
}

bool flush_to_disk(std::FILE* f) { return std::fflush(f) == 0 && _commit(_fileno(f)) == 0; }

void remove_file(const std::string& path) { _wremove(widen(path).c_str()); }

int process_id() { return _getpid(); }

std::string temp_dir() {
  for (const char* v : {"TMPDIR", "TEMP", "TMP"}) {
    const char* t = std::getenv(v);
    if (t && *t) return t;
  }
  return ".";
}

void name_this_thread(const char* name) {
  // SetThreadDescription: Windows 10 1607 and later; looked up for the same reason as above.
  using Fn = HRESULT(WINAPI*)(HANDLE, PCWSTR);
  static const Fn fn = reinterpret_cast<Fn>(
      reinterpret_cast<void*>(GetProcAddress(GetModuleHandleW(L"kernel32.dll"), "SetThreadDescription")));
  if (fn) fn(GetCurrentThread(), widen(name).c_str());
}

int physical_cores() {
  DWORD_PTR process_mask = 0, system_mask = 0;
  const bool have_mask = GetProcessAffinityMask(GetCurrentProcess(), &process_mask, &system_mask) && process_mask != 0;
  DWORD len = 0;
  GetLogicalProcessorInformationEx(RelationProcessorCore, nullptr, &len);
  if (len == 0) return 0;
  std::vector<uint8_t> buf(len);
  auto* info = reinterpret_cast<SYSTEM_LOGICAL_PROCESSOR_INFORMATION_EX*>(buf.data());
  if (!GetLogicalProcessorInformationEx(RelationProcessorCore, info, &len)) return 0;
  WORD group = 0;
  GROUP_AFFINITY ga;
  if (GetThreadGroupAffinity(GetCurrentThread(), &ga)) group = ga.Group;
  int cores = 0;
  for (DWORD off = 0; off < len;) {
    auto* e = reinterpret_cast<SYSTEM_LOGICAL_PROCESSOR_INFORMATION_EX*>(buf.data() + off);
    if (e->Size == 0) break;
    for (WORD g = 0; g < e->Processor.GroupCount; g++) {
      const GROUP_AFFINITY& m = e->Processor.GroupMask[g];
      // A process runs in one processor group unless it asks for more; count that group's
      // cores it may use.
      if (m.Group == group && (!have_mask || (m.Mask & process_mask) != 0)) {
        cores++;
        break;
      }
    }
    off += e->Size;
  }
  return cores;
}

namespace {
uint64_t system_available_memory() {
  MEMORYSTATUSEX s;
  s.dwLength = sizeof s;
  return GlobalMemoryStatusEx(&s) ? static_cast<uint64_t>(s.ullAvailPhys) : 0;
}
}  // namespace

#else  // POSIX: Linux, macOS, the BSDs

namespace {
const char* file_kind(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO (named pipe)";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  return "something that is not a regular file";
}
}  // namespace

ReadOnlyFile ReadOnlyFile::open(const std::string& path) {
  if (path.find('\0') != std::string::npos) fail("INVALID_ARGUMENT", "Expected a path without NUL bytes but received one");
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int e = errno;
    if (e == ENOENT || e == ENOTDIR) fail("FILE_NOT_FOUND", "No such file: " + path);
    fail("FILE_READ_ERROR", "Cannot open " + path + ": " + std::strerror(e));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    fail("FILE_READ_ERROR", "Cannot read the size of " + path + ": " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("FILE_READ_ERROR", "Expected a regular file for " + path + " but received " + file_kind(st.st_mode));
  }
  const int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return ReadOnlyFile(path, fd, static_cast<uint64_t>(st.st_size));
}

ReadOnlyFile::~ReadOnlyFile() {
  if (handle_ != -1) ::close(static_cast<int>(handle_));
}

const uint8_t* ReadOnlyFile::map() const {
  if (size_ == 0 || size_ > SIZE_MAX) return nullptr;
  void* p = mmap(nullptr, static_cast<size_t>(size_), PROT_READ, MAP_PRIVATE, static_cast<int>(handle_), 0);
  return p == MAP_FAILED ? nullptr : static_cast<const uint8_t*>(p);
}

void ReadOnlyFile::read_at(uint64_t offset, void* dst, size_t n) const {
  uint8_t* out = static_cast<uint8_t*>(dst);
  while (n > 0) {
    const ssize_t got = pread(static_cast<int>(handle_), out, n > (size_t(1) << 30) ? (size_t(1) << 30) : n,
                              static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail("FILE_READ_ERROR", "Cannot read " + path_ + ": " + std::strerror(errno));
    if (got == 0) fail("FILE_READ_ERROR", "Cannot read " + path_ + ": the file ended early");
    out += got, offset += static_cast<uint64_t>(got), n -= static_cast<size_t>(got);
  }
}

std::FILE* ReadOnlyFile::into_stdio() {
  std::FILE* f = fdopen(static_cast<int>(handle_), "rb");
  if (!f) fail("FILE_READ_ERROR", "Cannot open " + path_ + " for reading: " + std::strerror(errno));
  handle_ = -1;  // the FILE owns the descriptor now
  return f;
}

void unmap(const uint8_t* data, uint64_t size) { munmap(const_cast<uint8_t*>(data), static_cast<size_t>(size)); }

size_t page_size() {
  static const size_t page = [] {
    const long p = sysconf(_SC_PAGESIZE);  // 16 KiB on Apple silicon
    return p > 0 ? static_cast<size_t>(p) : size_t(4096);
  }();
  return page;
}

void drop_resident_pages(const uint8_t* p, size_t n) {
  const uintptr_t page = page_size();
  const uintptr_t a = (reinterpret_cast<uintptr_t>(p) + page - 1) & ~(page - 1);
  const uintptr_t e = (reinterpret_cast<uintptr_t>(p) + n) & ~(page - 1);
  if (e > a) madvise(reinterpret_cast<void*>(a), e - a, MADV_DONTNEED);
}

uint8_t* alloc_large(size_t n) {
  if (n == 0) n = 1;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // Huge pages need 2 MiB-aligned ranges: map 2 MiB more, keep the aligned part.
  const size_t huge = size_t(2) << 20;
  const size_t len = (n + huge - 1) / huge * huge;
  void* raw = mmap(nullptr, len + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const uintptr_t r = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t a = (r + huge - 1) & ~(huge - 1);
  if (a > r) munmap(raw, a - r);
  if (r + huge > a) munmap(reinterpret_cast<void*>(a + len), r + huge - a);
  madvise(reinterpret_cast<void*>(a), len, MADV_HUGEPAGE);  // a hint: refused (EINVAL) on kernels without THP
  return reinterpret_cast<uint8_t*>(a);
#else
  void* raw = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return raw == MAP_FAILED ? nullptr : static_cast<uint8_t*>(raw);
#endif
}

void free_large(uint8_t* p, size_t n) {
  if (!p) return;
  if (n == 0) n = 1;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const size_t huge = size_t(2) << 20;
  n = (n + huge - 1) / huge * huge;
#endif
  munmap(p, n);
}

bool populate(const uint8_t* p, size_t n) {
#if defined(__linux__)
  // MADV_POPULATE_READ is Linux 5.14; older kernels answer EINVAL.
  constexpr int kPopulateRead = 22;
  const uintptr_t page = page_size();
  const uintptr_t a = reinterpret_cast<uintptr_t>(p) & ~(page - 1);
  if (n == 0) return true;
  return madvise(reinterpret_cast<void*>(a), reinterpret_cast<uintptr_t>(p) + n - a, kPopulateRead) == 0;
#else
  (void)p;
  (void)n;
  return false;
#endif
}

void will_need(const uint8_t* p, size_t n) {
  const uintptr_t page = page_size();
  const uintptr_t a = reinterpret_cast<uintptr_t>(p) & ~(page - 1);
  if (n > 0) madvise(reinterpret_cast<void*>(a), reinterpret_cast<uintptr_t>(p) + n - a, MADV_WILLNEED);
}

std::FILE* create_file(const std::string& path) { return std::fopen(path.c_str(), "wb"); }

bool replace_file(const std::string& from, const std::string& to) { return std::rename(from.c_str(), to.c_str()) == 0; }

bool flush_to_disk(std::FILE* f) { return std::fflush(f) == 0 && fsync(fileno(f)) == 0; }

void remove_file(const std::string& path) { std::remove(path.c_str()); }

int process_id() { return static_cast<int>(getpid()); }

std::string temp_dir() {
  const char* t = std::getenv("TMPDIR");
  return t && *t ? t : "/tmp";
}

void name_this_thread(const char* name) {
  char short_name[16];
  std::snprintf(short_name, sizeof short_name, "%s", name);  // Linux keeps 15 characters
#if defined(__APPLE__)
  pthread_setname_np(short_name);
#elif defined(__linux__)
  pthread_setname_np(pthread_self(), short_name);
#else
  (void)short_name;
#endif
}

#if defined(__linux__)
namespace {
bool read_int_file(const std::string& path, long* out) {
  std::ifstream f(path);
  if (!f) return false;
  f >> *out;
  return static_cast<bool>(f);
}
}  // namespace
#endif

int physical_cores() {
#if defined(__linux__)
  // Distinct (package, core) pairs among the CPUs this process may run on.
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
  std::set<std::pair<long, long>> cores;
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
    if (!CPU_ISSET(cpu, &set)) continue;
    const std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
    long core = 0, pkg = 0;
    if (!read_int_file(base + "core_id", &core) || !read_int_file(base + "physical_package_id", &pkg))
      return CPU_COUNT(&set);  // no topology (some containers): every allowed CPU counts
    cores.insert({pkg, core});
  }
  return static_cast<int>(cores.size());
#elif defined(__APPLE__)
  int n = 0;
  size_t len = sizeof n;
  return sysctlbyname("hw.physicalcpu", &n, &len, nullptr, 0) == 0 ? n : 0;
#else
  return 0;
#endif
}

namespace {
uint64_t system_available_memory() {
#if defined(__linux__)
  uint64_t available = 0;
  {
    std::ifstream f("/proc/meminfo");
    std::string key, unit;
    uint64_t kb = 0;
    while (f >> key >> kb) {
      std::getline(f, unit);
      if (key == "MemAvailable:") {
        available = kb * 1024;
        break;
      }
    }
  }
  // In a container, the cgroup's limit (v2: memory.max) is what the process can really have.
  std::ifstream max_file("/sys/fs/cgroup/memory.max"), current_file("/sys/fs/cgroup/memory.current");
  uint64_t max = 0, current = 0;
  if (max_file >> max && current_file >> current && max > current) {
    // Page cache charged to the cgroup can be reclaimed: count its inactive part as room.
    uint64_t reclaimable = 0;
    std::ifstream stat_file("/sys/fs/cgroup/memory.stat");
    std::string key;
    uint64_t value = 0;
    while (stat_file >> key >> value)
      if (key == "inactive_file") reclaimable = value;
    const uint64_t room = max - current + reclaimable;
    if (available == 0 || room < available) available = room;
  }
  return available;
#else
  return 0;
#endif
}
}  // namespace

#endif

std::string format_bytes(uint64_t bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, u++;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 || v >= 100 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

// HALFBYTE_MEMORY_LIMIT=bytes: the most halfbyte assumes it may use (for tests, and to leave
// room for other programs); 0 or unset: no limit of its own.
uint64_t available_memory() {
  const char* v = std::getenv("HALFBYTE_MEMORY_LIMIT");
  const uint64_t limit = v && *v ? std::strtoull(v, nullptr, 10) : 0;
  const uint64_t system = system_available_memory();
  if (limit == 0) return system;
  return system == 0 ? limit : std::min(system, limit);
}

}  // namespace platform
}  // namespace hb
