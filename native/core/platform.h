// What the core asks of the operating system, in one place: opening and mapping files, page
// hints, thread names, core counts, free memory. Linux and other POSIX systems, Windows
// (CreateFileMapping/MapViewOfFile, GetLogicalProcessorInformationEx), and macOS (POSIX plus
// sysctl). Everything else in the core is portable C++.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

namespace hb {
namespace platform {

// A regular file open for reading. Opening never blocks: a FIFO, a device, a socket or a
// directory is refused (FILE_READ_ERROR) before any byte is read, a missing file is FILE_NOT_FOUND.
class ReadOnlyFile {
 public:
  static ReadOnlyFile open(const std::string& path);
  ReadOnlyFile(ReadOnlyFile&& o) noexcept;
  ReadOnlyFile& operator=(ReadOnlyFile&&) = delete;
  ReadOnlyFile(const ReadOnlyFile&) = delete;
  ~ReadOnlyFile();

  uint64_t size() const { return size_; }
  // A read-only mapping of the whole file (free it with unmap), or nullptr where the system
  // refuses one (the caller then reads the file instead).
  const uint8_t* map() const;
  // Reads n bytes at offset; FILE_READ_ERROR if the file ends early or the read fails.
  void read_at(uint64_t offset, void* dst, size_t n) const;
  // Hands the open file to stdio ("rb"); this object no longer owns it. The caller fcloses it.
  std::FILE* into_stdio();

 private:
  ReadOnlyFile(std::string path, intptr_t handle, uint64_t size) : path_(std::move(path)), handle_(handle), size_(size) {}
  std::string path_;
  intptr_t handle_ = -1;  // fd on POSIX, HANDLE on Windows; -1 when moved from
  uint64_t size_ = 0;
};

void unmap(const uint8_t* data, uint64_t size);
// Hints for a mapping made by ReadOnlyFile::map(). The bytes stay readable either way.
void drop_resident_pages(const uint8_t* p, size_t n);  // pages wholly inside [p, p + n) leave RAM
void will_need(const uint8_t* p, size_t n);            // start reading [p, p + n) ahead
size_t page_size();
// Page-granular memory for large buffers that are written once and then streamed (packed
// weights), straight from the system, with the hint to back it with huge pages where the system
// takes that hint (Linux transparent huge pages in "madvise" or "always" mode): one fault per
// 2 MiB instead of per 4 KiB while filling it, and fewer TLB misses when a token streams all of
// it. Zero-filled; nullptr when the system refuses. Release with free_large(p, n), same n.
uint8_t* alloc_large(size_t n);
void free_large(uint8_t* p, size_t n);
// Maps in the pages of [p, p + n) of a mapping made by ReadOnlyFile::map() now, in one call where
// the system has one (MADV_POPULATE_READ), instead of one fault per page later. Returns false if
// it could not (then touching the pages does the same, more slowly).
bool populate(const uint8_t* p, size_t n);

// fopen for writing ("wb") with a UTF-8 path (Windows needs the wide-character call for that).
// nullptr and errno set on failure, as fopen.
std::FILE* create_file(const std::string& path);
// rename that replaces an existing file on every system; false and errno set on failure.
bool replace_file(const std::string& from, const std::string& to);
bool flush_to_disk(std::FILE* f);  // fsync / _commit
void remove_file(const std::string& path);  // no error if it is not there

int process_id();
std::string temp_dir();  // TMPDIR / TEMP, else the system's
void name_this_thread(const char* name);  // shows in debuggers and `top -H`; at most 15 characters kept
// Physical cores this process may run on (SMT siblings counted once; the process's affinity
// mask respected), or 0 when the system does not say.
int physical_cores();
// Bytes of RAM the system can give without swapping (Linux: MemAvailable, within a cgroup's
// memory.max; Windows: ullAvailPhys), capped by HALFBYTE_MEMORY_LIMIT; 0 when nothing says
// (macOS without the variable: no check is made).
uint64_t available_memory();
std::string format_bytes(uint64_t bytes);  // "512 KiB", "1.5 GiB": for messages

}  // namespace platform
}  // namespace hb
