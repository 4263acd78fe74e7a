// GGUF v2/v3 reader. Parses the header, metadata and tensor table from a byte range (normally
// an mmap of the whole file); tensor data is referenced in place, never copied.
// Every malformed input throws hb::Error with a GGUF_* code naming the key or tensor at fault.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ggml_types.h"

namespace hb {

enum class GgufValueType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
const char* gguf_value_type_name(GgufValueType t);

// One metadata value. Scalars: integers in i (signed) / u (unsigned), floats in f, bools in b,
// strings in s. Arrays: element type in array_type; numbers/bools in nums (as double, exact for
// every 32-bit value), strings in strs; nested arrays are rejected by the reader.
struct GgufValue {
  GgufValueType type = GgufValueType::UINT8;
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0;
  bool b = false;
  std::string s;
  GgufValueType array_type = GgufValueType::UINT8;
  std::vector<double> nums;
  std::vector<std::string> strs;
  bool is_integer() const;
  bool is_number() const;  // integer or float
  bool is_array() const { return type == GgufValueType::ARRAY; }
  size_t array_size() const { return array_type == GgufValueType::STRING ? strs.size() : nums.size(); }
};

struct GgufTensor {
  std::string name;
  uint32_t n_dims = 0;
  int64_t ne[4] = {1, 1, 1, 1};  // ne[0] is the contiguous (row) dimension, as in GGUF
  uint32_t type_id = 0;           // raw id; see ggml_type_info()
  uint64_t offset = 0;            // relative to the start of the data section
  const uint8_t* data = nullptr;  // points into the mapping
  uint64_t nbytes = 0;
  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  GgmlType type() const { return static_cast<GgmlType>(type_id); }
};

// A read-only mapping of a file (mmap on POSIX, MapViewOfFile on Windows: platform.h). Falls back
// to reading into memory if the system refuses the mapping. Only regular files open (no FIFOs).
class MappedFile {
 public:
  static std::unique_ptr<MappedFile> open(const std::string& path);  // throws FILE_NOT_FOUND / FILE_READ_ERROR
  ~MappedFile();
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  // Touches every page of [begin, end) so later reads do not fault; calls progress(done_bytes)
  // every few MB; returns false if progress returned false (cancelled).
  bool prefetch(size_t begin, size_t end, const std::function<bool(size_t)>& progress) const;
  // Drops this mapping's resident pages lying wholly inside [p, p + n) (mapped files only; the
  // bytes stay readable and fault back in from the file if read again). For weights that were
  // copied elsewhere, so they are not resident twice.
  void release(const uint8_t* p, size_t n) const;

 private:
  MappedFile() = default;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
  std::vector<uint8_t> owned_;
};

class GgufFile {
 public:
  // Parses bytes [data, data+size). The bytes must outlive the GgufFile.
  static std::unique_ptr<GgufFile> parse(const uint8_t* data, size_t size, bool vocab_only = false);
  // Maps and parses a file; the GgufFile owns the mapping.
  static std::unique_ptr<GgufFile> open(const std::string& path, bool vocab_only = false);

  uint32_t version = 0;
  uint64_t alignment = 32;
  uint64_t data_offset = 0;  // start of the tensor data section
  std::vector<std::pair<std::string, GgufValue>> metadata;  // file order
  std::vector<GgufTensor> tensors;                           // file order

  const GgufValue* find(const std::string& key) const;
  const GgufTensor* find_tensor(const std::string& name) const;

  // Typed getters: throw GGUF_MISSING_KEY if absent (the *_or forms return the fallback) and
  // GGUF_BAD_METADATA if the value has the wrong type or is out of range.
  std::string get_string(const std::string& key) const;
  std::string get_string_or(const std::string& key, const std::string& fallback) const;
  uint64_t get_u64(const std::string& key) const;
  uint64_t get_u64_or(const std::string& key, uint64_t fallback) const;
  uint32_t get_u32(const std::string& key) const;
  uint32_t get_u32_or(const std::string& key, uint32_t fallback) const;
  double get_f64_or(const std::string& key, double fallback) const;
  bool get_bool_or(const std::string& key, bool fallback) const;
  const GgufValue* get_array(const std::string& key, GgufValueType elem) const;  // nullptr if absent

  const MappedFile* file() const { return file_.get(); }
  size_t file_size() const { return size_; }

 private:
  std::unique_ptr<MappedFile> file_;
  size_t size_ = 0;
  std::unordered_map<std::string, size_t> key_index_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

}  // namespace hb
