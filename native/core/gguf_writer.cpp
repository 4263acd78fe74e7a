// GGUF v3 writer: little-endian, header + metadata + tensor table, then each tensor's data padded
// to the alignment. See gguf_writer.h.
#include "gguf_writer.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "error.h"

#include "platform.h"

namespace hb {

namespace {

constexpr uint32_t kGgufVersion = 3;
constexpr size_t kMaxTensorName = 63;  // ggml's GGML_MAX_NAME (64) includes the terminator

template <typename T>
void put(std::vector<uint8_t>& out, T v) {
  uint8_t tmp[sizeof(T)];
  std::memcpy(tmp, &v, sizeof(T));
  out.insert(out.end(), tmp, tmp + sizeof(T));
}

void put_string(std::vector<uint8_t>& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

bool is_scalar_type(GgufValueType t) {
  return t != GgufValueType::STRING && t != GgufValueType::ARRAY &&
         static_cast<uint32_t>(t) <= static_cast<uint32_t>(GgufValueType::FLOAT64);
}

size_t scalar_bytes(GgufValueType t) {
  switch (t) {
    case GgufValueType::UINT8: case GgufValueType::INT8: case GgufValueType::BOOL: return 1;
    case GgufValueType::UINT16: case GgufValueType::INT16: return 2;
    case GgufValueType::UINT32: case GgufValueType::INT32: case GgufValueType::FLOAT32: return 4;
    case GgufValueType::UINT64: case GgufValueType::INT64: case GgufValueType::FLOAT64: return 8;
    default: return 0;
  }
}

std::string type_label(GgufValueType t) {
  const char* n = gguf_value_type_name(t);
  return n ? n : ("type " + std::to_string(static_cast<uint32_t>(t)));
}

[[noreturn]] void bad_value(const std::string& key, const std::string& expected, const std::string& got) {
  fail("INVALID_ARGUMENT", "Expected " + expected + " for metadata " + key + " but received " + got);
}

// Appends one signed integer as type t, checking its range.
void put_signed(std::vector<uint8_t>& out, GgufValueType t, int64_t v, const std::string& key) {
  auto check = [&](int64_t lo, int64_t hi) {
    if (v < lo || v > hi)
      bad_value(key, "a " + type_label(t) + " value (" + std::to_string(lo) + " to " + std::to_string(hi) + ")",
                std::to_string(v));
  };
  switch (t) {
    case GgufValueType::INT8: check(INT8_MIN, INT8_MAX); put<int8_t>(out, static_cast<int8_t>(v)); break;
    case GgufValueType::INT16: check(INT16_MIN, INT16_MAX); put<int16_t>(out, static_cast<int16_t>(v)); break;
    case GgufValueType::INT32: check(INT32_MIN, INT32_MAX); put<int32_t>(out, static_cast<int32_t>(v)); break;
    default: put<int64_t>(out, v); break;
  }
}

void put_unsigned(std::vector<uint8_t>& out, GgufValueType t, uint64_t v, const std::string& key) {
  auto check = [&](uint64_t hi) {
    if (v > hi) bad_value(key, "a " + type_label(t) + " value (0 to " + std::to_string(hi) + ")", std::to_string(v));
  };
  switch (t) {
    case GgufValueType::UINT8: check(UINT8_MAX); put<uint8_t>(out, static_cast<uint8_t>(v)); break;
    case GgufValueType::UINT16: check(UINT16_MAX); put<uint16_t>(out, static_cast<uint16_t>(v)); break;
    case GgufValueType::UINT32: check(UINT32_MAX); put<uint32_t>(out, static_cast<uint32_t>(v)); break;
    default: put<uint64_t>(out, v); break;
  }
}

bool is_signed_type(GgufValueType t) {
  return t == GgufValueType::INT8 || t == GgufValueType::INT16 || t == GgufValueType::INT32 || t == GgufValueType::INT64;
}

// One array element given as a double (GgufValue::nums).
void put_array_number(std::vector<uint8_t>& out, GgufValueType t, double d, const std::string& key) {
  if (t == GgufValueType::FLOAT32) return put<float>(out, static_cast<float>(d));
  if (t == GgufValueType::FLOAT64) return put<double>(out, d);
  if (t == GgufValueType::BOOL) {
    if (d != 0 && d != 1) bad_value(key, "0 or 1 in a bool array", std::to_string(d));
    return put<uint8_t>(out, static_cast<uint8_t>(d));
  }
  // Integers: exact and within int64 / uint64 (the type's own range is checked by put_*).
  if (!(d == std::floor(d)) || !(d >= -9223372036854775808.0 && d < 18446744073709551616.0))
    bad_value(key, "integer elements in an " + type_label(t) + " array", std::to_string(d));
  if (is_signed_type(t)) {
    if (d >= 9223372036854775808.0) bad_value(key, "an " + type_label(t) + " element", std::to_string(d));
    put_signed(out, t, static_cast<int64_t>(d), key);
  } else {
    if (d < 0) bad_value(key, "a non-negative " + type_label(t) + " element", std::to_string(d));
    put_unsigned(out, t, static_cast<uint64_t>(d), key);
  }
}

// Length in bytes of one encoded value of type t at p (at most n bytes), or SIZE_MAX if the
// bytes do not hold exactly one well-formed value of that type.
size_t encoded_value_size(GgufValueType t, const uint8_t* p, size_t n, bool allow_array) {
  if (is_scalar_type(t)) {
    size_t s = scalar_bytes(t);
    if (n < s) return SIZE_MAX;
    if (t == GgufValueType::BOOL && p[0] > 1) return SIZE_MAX;
    return s;
  }
  if (t == GgufValueType::STRING) {
    if (n < 8) return SIZE_MAX;
    uint64_t len;
    std::memcpy(&len, p, 8);
    if (len > n - 8) return SIZE_MAX;
    return 8 + static_cast<size_t>(len);
  }
  if (t == GgufValueType::ARRAY && allow_array) {
    if (n < 12) return SIZE_MAX;
    uint32_t et;
    uint64_t count;
    std::memcpy(&et, p, 4);
    std::memcpy(&count, p + 4, 8);
    const GgufValueType elem = static_cast<GgufValueType>(et);
    size_t pos = 12;
    if (is_scalar_type(elem)) {
      const size_t s = scalar_bytes(elem);
      if (count > (n - pos) / s) return SIZE_MAX;
      if (elem == GgufValueType::BOOL)
        for (uint64_t i = 0; i < count; i++)
          if (p[pos + i] > 1) return SIZE_MAX;
      return pos + static_cast<size_t>(count) * s;
    }
    if (elem != GgufValueType::STRING) return SIZE_MAX;  // nested arrays or unknown types
    for (uint64_t i = 0; i < count; i++) {
      size_t s = encoded_value_size(elem, p + pos, n - pos, false);
      if (s == SIZE_MAX) return SIZE_MAX;
      pos += s;
    }
    return pos;
  }
  return SIZE_MAX;
}

uint64_t pad_to(uint64_t x, uint64_t align) { return (x + align - 1) / align * align; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Raw metadata

std::vector<RawKv> read_raw_metadata(const uint8_t* data, size_t size) {
  auto truncated = [&](const std::string& what) -> void {
    fail("GGUF_TRUNCATED", "File ends at byte " + std::to_string(size) + " while reading " + what);
  };
  if (size < 24 || std::memcmp(data, "GGUF", 4) != 0) fail("GGUF_BAD_MAGIC", "Expected a GGUF image");
  uint32_t version;
  uint64_t n_kv;
  std::memcpy(&version, data + 4, 4);
  std::memcpy(&n_kv, data + 16, 8);
  if (version != 2 && version != 3)
    fail("GGUF_UNSUPPORTED_VERSION", "Expected GGUF version 2 or 3 but received " + std::to_string(version));
  std::vector<RawKv> out;
  size_t pos = 24;
  for (uint64_t k = 0; k < n_kv; k++) {
    const std::string what = "metadata #" + std::to_string(k);
    if (size - pos < 8) truncated(what);
    uint64_t key_len;
    std::memcpy(&key_len, data + pos, 8);
    pos += 8;
    if (key_len > size - pos || size - pos - key_len < 4) truncated(what);
    RawKv kv;
    kv.key.assign(reinterpret_cast<const char*>(data + pos), static_cast<size_t>(key_len));
    pos += static_cast<size_t>(key_len);
    uint32_t type;
    std::memcpy(&type, data + pos, 4);
    pos += 4;
    kv.type = static_cast<GgufValueType>(type);
    const size_t n = encoded_value_size(kv.type, data + pos, size - pos, true);
    if (n == SIZE_MAX) fail("GGUF_BAD_METADATA", "Malformed value for metadata " + kv.key);
    kv.value = data + pos;
    kv.size = n;
    pos += n;
    out.push_back(std::move(kv));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Sinks

void MemorySink::write(const void* data, size_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  bytes.insert(bytes.end(), p, p + n);
}

FileSink::FileSink(const std::string& path, std::string noun, bool durable)
    : path_(path), noun_(std::move(noun)), durable_(durable) {
  static std::atomic<unsigned> counter{0};
  temp_path_ = path + ".tmp-" + std::to_string(platform::process_id()) + "-" +
               std::to_string(counter.fetch_add(1));
  file_ = platform::create_file(temp_path_);
  if (!file_) fail_io("create", errno);
  std::setvbuf(file_, nullptr, _IOFBF, size_t(1) << 20);
}

FileSink::~FileSink() {
  if (committed_) return;
  if (file_) std::fclose(file_);
  platform::remove_file(temp_path_);
}

void FileSink::fail_io(const std::string& what, int err) {
  fail("FILE_WRITE_ERROR", "Cannot " + what + " " + (noun_.empty() ? "" : noun_ + " ") +
                               (what == "rename" ? temp_path_ + " to " + path_ : temp_path_) +
                               ": " + std::strerror(err));
}

void FileSink::write(const void* data, size_t n) {
  if (!file_) fail("FILE_WRITE_ERROR", "Cannot write " + temp_path_ + ": the file is closed");
  if (n == 0) return;
  if (std::fwrite(data, 1, n, file_) != n) fail_io("write", errno);
  written_ += n;
}

void FileSink::commit() {
  if (!file_) fail("FILE_WRITE_ERROR", "Cannot commit " + path_ + " twice");
  std::FILE* f = file_;
  file_ = nullptr;
  const bool flushed = std::fflush(f) == 0;
  const int flush_err = errno;
  if (flushed && durable_) platform::flush_to_disk(f);
  const bool closed = std::fclose(f) == 0;
  if (!flushed) fail_io("write", flush_err);
  if (!closed) fail_io("close", errno);
  if (!platform::replace_file(temp_path_, path_)) fail_io("rename", errno);
  committed_ = true;
}

// ---------------------------------------------------------------------------------------------
// Writer

bool GgufWriter::has_key(const std::string& key) const {
  for (const Kv& kv : kvs_)
    if (kv.key == key) return true;
  return false;
}

void GgufWriter::check_open(const char* what) const {
  if (sink_) fail("INTERNAL", std::string("GgufWriter: ") + what + " after begin()");
}

void GgufWriter::add_encoded(const std::string& key, GgufValueType type, std::vector<uint8_t> encoded) {
  check_open("add");
  if (key.empty()) fail("INVALID_ARGUMENT", "Expected a non-empty metadata key");
  if (has_key(key)) fail("INVALID_ARGUMENT", "Duplicate metadata key " + key);
  if (key == "general.alignment") {
    // ggml reads it as a u32 power of two; the data layout depends on it.
    uint32_t a = 0;
    if (type != GgufValueType::UINT32 || encoded.size() != 4)
      bad_value(key, "a uint32", type_label(type));
    std::memcpy(&a, encoded.data(), 4);
    if (a == 0 || (a & (a - 1)) != 0 || a > (1u << 20)) bad_value(key, "a power of two up to 2^20", std::to_string(a));
    if (!tensors_.empty()) fail("INTERNAL", "GgufWriter: general.alignment must be set before the tensors");
    alignment_ = a;
  }
  kvs_.push_back({key, type, std::move(encoded)});
}

void GgufWriter::add(const std::string& key, const GgufValue& v) {
  std::vector<uint8_t> e;
  const GgufValueType t = v.type;
  if (t == GgufValueType::STRING) {
    put_string(e, v.s);
  } else if (t == GgufValueType::ARRAY) {
    const GgufValueType et = v.array_type;
    if (et == GgufValueType::ARRAY) bad_value(key, "a flat array", "an array of arrays");
    if (static_cast<uint32_t>(et) > static_cast<uint32_t>(GgufValueType::FLOAT64))
      bad_value(key, "an array element type 0-12", std::to_string(static_cast<uint32_t>(et)));
    put<uint32_t>(e, static_cast<uint32_t>(et));
    if (et == GgufValueType::STRING) {
      put<uint64_t>(e, v.strs.size());
      for (const std::string& s : v.strs) put_string(e, s);
    } else {
      put<uint64_t>(e, v.nums.size());
      for (double d : v.nums) put_array_number(e, et, d, key);
    }
  } else if (t == GgufValueType::FLOAT32) {
    put<float>(e, static_cast<float>(v.f));
  } else if (t == GgufValueType::FLOAT64) {
    put<double>(e, v.f);
  } else if (t == GgufValueType::BOOL) {
    put<uint8_t>(e, v.b ? 1 : 0);
  } else if (is_signed_type(t)) {
    put_signed(e, t, v.i, key);
  } else if (is_scalar_type(t)) {
    put_unsigned(e, t, v.u, key);
  } else {
    bad_value(key, "a value type 0-12", std::to_string(static_cast<uint32_t>(t)));
  }
  add_encoded(key, t, std::move(e));
}

void GgufWriter::add_raw(const std::string& key, GgufValueType type, const uint8_t* encoded, size_t n) {
  if (encoded_value_size(type, encoded, n, true) != n)
    bad_value(key, "one encoded " + type_label(type) + " value of " + std::to_string(n) + " bytes", "other bytes");
  add_encoded(key, type, std::vector<uint8_t>(encoded, encoded + n));
}

void GgufWriter::add_tensor(const std::string& name, uint32_t n_dims, const int64_t ne[4], GgmlType type) {
  check_open("add_tensor");
  if (name.empty() || name.size() > kMaxTensorName)
    fail("INVALID_ARGUMENT", "Expected a tensor name of 1 to " + std::to_string(kMaxTensorName) +
                                 " bytes but received \"" + name + "\"");
  for (const TensorInfo& t : tensors_)
    if (t.name == name) fail("INVALID_ARGUMENT", "Duplicate tensor name " + name);
  if (n_dims < 1 || n_dims > 4)
    fail("INVALID_ARGUMENT", "Expected 1 to 4 dimensions for tensor " + name + " but received " + std::to_string(n_dims));
  const GgmlTypeInfo info = ggml_type_info(static_cast<uint32_t>(type));
  if (!info.name || info.block_size <= 0)
    fail("UNSUPPORTED_TENSOR_TYPE", "Unknown tensor type id " + std::to_string(static_cast<uint32_t>(type)) +
                                        " for tensor " + name);
  TensorInfo ti;
  ti.name = name;
  ti.n_dims = n_dims;
  ti.type = type;
  uint64_t count = 1;
  for (int d = 0; d < 4; d++) {
    ti.ne[d] = d < static_cast<int>(n_dims) ? ne[d] : 1;
    if (ti.ne[d] < 0 || ti.ne[d] > (int64_t(1) << 40))
      fail("INVALID_ARGUMENT", "Expected dimensions between 0 and 2^40 for tensor " + name + " but received " +
                                   std::to_string(ti.ne[d]));
    if (ti.ne[d] != 0 && count > (uint64_t(1) << 50) / static_cast<uint64_t>(ti.ne[d]))
      fail("INVALID_ARGUMENT", "Expected fewer than 2^50 elements in tensor " + name);
    count *= static_cast<uint64_t>(ti.ne[d]);
  }
  if (ti.ne[0] % info.block_size != 0)
    fail("INVALID_ARGUMENT", "Expected a row length divisible by the " + std::string(info.name) + " block size " +
                                 std::to_string(info.block_size) + " for tensor " + name + " but received " +
                                 std::to_string(ti.ne[0]));
  ti.nbytes = count / static_cast<uint64_t>(info.block_size) * info.type_size;
  ti.offset = data_bytes_;
  data_bytes_ += pad_to(ti.nbytes, alignment_);
  tensors_.push_back(std::move(ti));
}

std::vector<uint8_t> GgufWriter::header_bytes() const {
  std::vector<uint8_t> h = {'G', 'G', 'U', 'F'};
  put<uint32_t>(h, kGgufVersion);
  put<uint64_t>(h, tensors_.size());
  put<uint64_t>(h, kvs_.size());
  for (const Kv& kv : kvs_) {
    put_string(h, kv.key);
    put<uint32_t>(h, static_cast<uint32_t>(kv.type));
    h.insert(h.end(), kv.encoded.begin(), kv.encoded.end());
  }
  for (const TensorInfo& t : tensors_) {
    put_string(h, t.name);
    put<uint32_t>(h, t.n_dims);
    for (uint32_t d = 0; d < t.n_dims; d++) put<int64_t>(h, t.ne[d]);
    put<uint32_t>(h, static_cast<uint32_t>(t.type));
    put<uint64_t>(h, t.offset);
  }
  h.resize(static_cast<size_t>(pad_to(h.size(), alignment_)), 0);
  return h;
}

uint64_t GgufWriter::data_offset() const { return header_bytes().size(); }

uint64_t GgufWriter::file_size() const {
  // The last tensor's padding is written too (ggml does the same), so the data section is whole.
  return data_offset() + data_bytes_;
}

void GgufWriter::begin(ByteSink& sink) {
  check_open("begin");
  std::vector<uint8_t> h = header_bytes();
  sink.write(h.data(), h.size());
  sink_ = &sink;
  cur_tensor_ = 0;
  cur_written_ = 0;
  finished_ = false;
  // Empty tensors take no bytes (and no padding).
  while (cur_tensor_ < tensors_.size() && tensors_[cur_tensor_].nbytes == 0) cur_tensor_++;
}

void GgufWriter::write_data(const void* data, size_t n) {
  if (!sink_ || finished_) fail("INTERNAL", "GgufWriter: write_data outside begin() .. finish()");
  static const uint8_t zeros[64] = {0};
  const uint8_t* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    if (cur_tensor_ >= tensors_.size()) fail("INTERNAL", "GgufWriter: more data than the tensors hold");
    const TensorInfo& t = tensors_[cur_tensor_];
    const size_t take = static_cast<size_t>(std::min<uint64_t>(n, t.nbytes - cur_written_));
    sink_->write(p, take);
    p += take;
    n -= take;
    cur_written_ += take;
    if (cur_written_ == t.nbytes) {
      uint64_t pad = pad_to(t.nbytes, alignment_) - t.nbytes;
      while (pad > 0) {
        const size_t k = static_cast<size_t>(std::min<uint64_t>(pad, sizeof zeros));
        sink_->write(zeros, k);
        pad -= k;
      }
      cur_tensor_++;
      cur_written_ = 0;
      while (cur_tensor_ < tensors_.size() && tensors_[cur_tensor_].nbytes == 0) cur_tensor_++;
    }
  }
}

void GgufWriter::finish() {
  if (!sink_ || finished_) fail("INTERNAL", "GgufWriter: finish() without begin()");
  if (cur_tensor_ < tensors_.size())
    fail("INTERNAL", "GgufWriter: tensor " + tensors_[cur_tensor_].name + " got " + std::to_string(cur_written_) +
                         " of its " + std::to_string(tensors_[cur_tensor_].nbytes) + " bytes");
  finished_ = true;
}

}  // namespace hb
