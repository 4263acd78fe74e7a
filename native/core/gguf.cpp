#include "gguf.h"

#include <cerrno>
#include <cstring>
#include <cstdint>
#include <limits>

#include "error.h"

#include "platform.h"

namespace hb {

// ---------------------------------------------------------------------------------------------
// MappedFile

std::unique_ptr<MappedFile> MappedFile::open(const std::string& path) {
  std::unique_ptr<MappedFile> f(new MappedFile());
  const platform::ReadOnlyFile file = platform::ReadOnlyFile::open(path);
  if (file.size() > SIZE_MAX)
    fail("FILE_READ_ERROR", "Expected a file that fits the address space for " + path + " but received " +
                                std::to_string(file.size()) + " bytes");
  f->size_ = static_cast<size_t>(file.size());
  if (f->size_ == 0) return f;
  f->data_ = file.map();
  if (f->data_) {
    f->mapped_ = true;
    return f;
  }
  // The system refused a mapping: read the whole file instead.
  f->owned_.resize(f->size_);
  file.read_at(0, f->owned_.data(), f->size_);
  f->data_ = f->owned_.data();
  return f;
}

MappedFile::~MappedFile() {
  if (mapped_) platform::unmap(data_, size_);
}

void MappedFile::release(const uint8_t* p, size_t n) const {
  if (!mapped_ || p < data_ || n > size_ || p - data_ > static_cast<ptrdiff_t>(size_ - n)) return;
  platform::drop_resident_pages(p, n);
}

bool MappedFile::prefetch(size_t begin, size_t end, const std::function<bool(size_t)>& progress) const {
  if (end > size_) end = size_;
  if (begin >= end) return progress ? progress(0) : true;
  // Ask the system to read ahead; touching pages below then mostly finds them resident.
  if (mapped_) platform::will_need(data_ + begin, end - begin);
  const size_t step = 16u << 20;  // report every 16 MiB
  const size_t page = platform::page_size();
  volatile uint8_t sink = 0;
  for (size_t chunk = begin; chunk < end; chunk += step) {
    size_t stop = chunk + step < end ? chunk + step : end;
    // One call per chunk maps its pages in (faulting them one by one costs several times more).
    if (!mapped_ || !platform::populate(data_ + chunk, stop - chunk))
      for (size_t p = chunk; p < stop; p += page) sink ^= data_[p];
    if (progress && !progress(stop - begin)) return false;
  }
  (void)sink;
  return true;
}

// ---------------------------------------------------------------------------------------------
// GgufValue

const char* gguf_value_type_name(GgufValueType t) {
  switch (t) {
    case GgufValueType::UINT8: return "uint8";
    case GgufValueType::INT8: return "int8";
    case GgufValueType::UINT16: return "uint16";
    case GgufValueType::INT16: return "int16";
    case GgufValueType::UINT32: return "uint32";
    case GgufValueType::INT32: return "int32";
    case GgufValueType::FLOAT32: return "float32";
    case GgufValueType::BOOL: return "bool";
    case GgufValueType::STRING: return "string";
    case GgufValueType::ARRAY: return "array";
    case GgufValueType::UINT64: return "uint64";
    case GgufValueType::INT64: return "int64";
    case GgufValueType::FLOAT64: return "float64";
  }
  return "unknown";
}

static bool is_integer_type(GgufValueType t) {
  switch (t) {
    case GgufValueType::UINT8: case GgufValueType::INT8: case GgufValueType::UINT16:
    case GgufValueType::INT16: case GgufValueType::UINT32: case GgufValueType::INT32:
    case GgufValueType::UINT64: case GgufValueType::INT64:
      return true;
    default:
      return false;
  }
}

bool GgufValue::is_integer() const { return is_integer_type(type); }
bool GgufValue::is_number() const {
  return is_integer() || type == GgufValueType::FLOAT32 || type == GgufValueType::FLOAT64;
}

// ---------------------------------------------------------------------------------------------
// Parser

namespace {

// Bounds-checked little-endian reader over the file bytes. Every read names what it was reading
// so a truncated file reports where it ended.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }

  void need(size_t n, const std::string& what) {
    if (n > remaining())
      fail("GGUF_TRUNCATED", "File ends at byte " + std::to_string(size_) + " while reading " + what +
                                 " (needed " + std::to_string(n) + " more bytes at offset " +
                                 std::to_string(pos_) + ")");
  }
  template <typename T>
  T read(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string read_string(const std::string& what) {
    uint64_t len = read<uint64_t>(what + " (string length)");
    if (len > remaining())
      fail("GGUF_TRUNCATED", "Expected a string length of at most " + std::to_string(remaining()) +
                                 " bytes for " + what + " but received " + std::to_string(len));
    std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return s;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

size_t scalar_size(GgufValueType t) {
  switch (t) {
    case GgufValueType::UINT8: case GgufValueType::INT8: case GgufValueType::BOOL: return 1;
    case GgufValueType::UINT16: case GgufValueType::INT16: return 2;
    case GgufValueType::UINT32: case GgufValueType::INT32: case GgufValueType::FLOAT32: return 4;
    case GgufValueType::UINT64: case GgufValueType::INT64: case GgufValueType::FLOAT64: return 8;
    default: return 0;
  }
}

bool valid_value_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufValueType::FLOAT64); }

// Reads one scalar of type t into v (integers into both i and u when representable).
void read_scalar(Reader& r, GgufValueType t, GgufValue& v, const std::string& what) {
  switch (t) {
    case GgufValueType::UINT8: v.u = r.read<uint8_t>(what); v.i = static_cast<int64_t>(v.u); break;
    case GgufValueType::INT8: v.i = r.read<int8_t>(what); v.u = static_cast<uint64_t>(v.i); break;
    case GgufValueType::UINT16: v.u = r.read<uint16_t>(what); v.i = static_cast<int64_t>(v.u); break;
    case GgufValueType::INT16: v.i = r.read<int16_t>(what); v.u = static_cast<uint64_t>(v.i); break;
    case GgufValueType::UINT32: v.u = r.read<uint32_t>(what); v.i = static_cast<int64_t>(v.u); break;
    case GgufValueType::INT32: v.i = r.read<int32_t>(what); v.u = static_cast<uint64_t>(v.i); break;
    case GgufValueType::UINT64: v.u = r.read<uint64_t>(what); v.i = static_cast<int64_t>(v.u); break;
    case GgufValueType::INT64: v.i = r.read<int64_t>(what); v.u = static_cast<uint64_t>(v.i); break;
    case GgufValueType::FLOAT32: v.f = r.read<float>(what); break;
    case GgufValueType::FLOAT64: v.f = r.read<double>(what); break;
    case GgufValueType::BOOL: {
      uint8_t b = r.read<uint8_t>(what);
      if (b > 1) fail("GGUF_BAD_METADATA", "Expected 0 or 1 for bool " + what + " but received " + std::to_string(b));
      v.b = b != 0;
      v.u = b;
      v.i = b;
      break;
    }
    default: fail("GGUF_BAD_METADATA", "Not a scalar type for " + what);
  }
  if (is_integer_type(t)) v.f = (t == GgufValueType::INT8 || t == GgufValueType::INT16 || t == GgufValueType::INT32 ||
                                 t == GgufValueType::INT64)
                                    ? static_cast<double>(v.i)
                                    : static_cast<double>(v.u);
}

double read_array_number(Reader& r, GgufValueType t, const std::string& what) {
  GgufValue tmp;
  read_scalar(r, t, tmp, what);
  if (t == GgufValueType::BOOL) return tmp.b ? 1.0 : 0.0;
  return tmp.f;
}

}  // namespace

std::unique_ptr<GgufFile> GgufFile::parse(const uint8_t* data, size_t size, bool vocab_only) {
  std::unique_ptr<GgufFile> g(new GgufFile());
  g->size_ = size;
  Reader r(data, size);

  r.need(4, "the GGUF magic");
  if (std::memcmp(data, "GGUF", 4) != 0) {
    char got[5] = {0};
    for (int i = 0; i < 4; i++) got[i] = (data[i] >= 32 && data[i] < 127) ? static_cast<char>(data[i]) : '?';
    fail("GGUF_BAD_MAGIC", std::string("Expected the magic \"GGUF\" at the start of the file but received \"") + got +
                               "\": not a GGUF file");
  }
  r.read<uint32_t>("magic");
  g->version = r.read<uint32_t>("the version");
  if (g->version != 2 && g->version != 3)
    fail("GGUF_UNSUPPORTED_VERSION",
         "Expected GGUF version 2 or 3 but received " + std::to_string(g->version));
  uint64_t n_tensors = r.read<uint64_t>("the tensor count");
  uint64_t n_kv = r.read<uint64_t>("the metadata count");
  // Each metadata pair needs at least 12 bytes (key length + type) and each tensor info at least
  // 8 + 4 + 4 + 8 bytes, so larger counts cannot be real.
  if (n_kv > r.remaining() / 12)
    fail("GGUF_BAD_METADATA", "Expected a metadata count that fits the file but received " + std::to_string(n_kv));
  if (n_tensors > r.remaining() / 24)
    fail("GGUF_BAD_TENSOR", "Expected a tensor count that fits the file but received " + std::to_string(n_tensors));

  g->metadata.reserve(static_cast<size_t>(n_kv));
  for (uint64_t k = 0; k < n_kv; k++) {
    std::string key = r.read_string("metadata key #" + std::to_string(k));
    if (key.empty()) fail("GGUF_BAD_METADATA", "Expected a non-empty key for metadata #" + std::to_string(k));
    uint32_t type_raw = r.read<uint32_t>("the type of " + key);
    if (!valid_value_type(type_raw))
      fail("GGUF_BAD_METADATA", "Expected a value type 0-12 for " + key + " but received " + std::to_string(type_raw));
    GgufValue v;
    v.type = static_cast<GgufValueType>(type_raw);
    if (v.type == GgufValueType::STRING) {
      v.s = r.read_string(key);
    } else if (v.type == GgufValueType::ARRAY) {
      uint32_t et = r.read<uint32_t>("the element type of " + key);
      if (!valid_value_type(et))
        fail("GGUF_BAD_METADATA", "Expected an element type 0-12 for array " + key + " but received " + std::to_string(et));
      v.array_type = static_cast<GgufValueType>(et);
      if (v.array_type == GgufValueType::ARRAY)
        fail("GGUF_BAD_METADATA", "Expected a flat array for " + key + " but received an array of arrays");
      uint64_t count = r.read<uint64_t>("the length of " + key);
      size_t min_elem = v.array_type == GgufValueType::STRING ? 8 : scalar_size(v.array_type);
      if (count > r.remaining() / min_elem)
        fail("GGUF_TRUNCATED", "Expected an array length that fits the file for " + key + " but received " +
                                   std::to_string(count));
      if (v.array_type == GgufValueType::STRING) {
        v.strs.reserve(static_cast<size_t>(count));
        for (uint64_t j = 0; j < count; j++) v.strs.push_back(r.read_string(key + "[" + std::to_string(j) + "]"));
      } else {
        v.nums.reserve(static_cast<size_t>(count));
        for (uint64_t j = 0; j < count; j++) v.nums.push_back(read_array_number(r, v.array_type, key));
      }
    } else {
      read_scalar(r, v.type, v, key);
    }
    if (g->key_index_.count(key)) fail("GGUF_BAD_METADATA", "Duplicate metadata key " + key);
    g->key_index_[key] = g->metadata.size();
    g->metadata.emplace_back(std::move(key), std::move(v));
  }

  if (const GgufValue* a = g->find("general.alignment")) {
    if (!a->is_integer() || a->u == 0 || (a->u & (a->u - 1)) != 0 || a->u > (1u << 20))
      fail("GGUF_BAD_METADATA", "Expected a power of two for general.alignment but received " +
                                    (a->is_integer() ? std::to_string(a->u) : std::string(gguf_value_type_name(a->type))));
    g->alignment = a->u;
  }

  g->tensors.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t t = 0; t < n_tensors; t++) {
    GgufTensor ti;
    ti.name = r.read_string("tensor name #" + std::to_string(t));
    ti.n_dims = r.read<uint32_t>("the dimension count of tensor " + ti.name);
    if (ti.n_dims < 1 || ti.n_dims > 4)
      fail("GGUF_BAD_TENSOR", "Expected 1 to 4 dimensions for tensor " + ti.name + " but received " + std::to_string(ti.n_dims));
    for (uint32_t d = 0; d < ti.n_dims; d++) {
      int64_t ne = r.read<int64_t>("the shape of tensor " + ti.name);
      if (ne < 0 || ne > (int64_t(1) << 40))
        fail("GGUF_BAD_TENSOR", "Expected a dimension between 0 and 2^40 for tensor " + ti.name + " but received " + std::to_string(ne));
      ti.ne[d] = ne;
    }
    ti.type_id = r.read<uint32_t>("the type of tensor " + ti.name);
    ti.offset = r.read<uint64_t>("the data offset of tensor " + ti.name);
    GgmlTypeInfo info = ggml_type_info(ti.type_id);
    if (!info.name)
      fail("UNSUPPORTED_TENSOR_TYPE", "Unknown tensor type id " + std::to_string(ti.type_id) + " for tensor " + ti.name);
    // Element count must not overflow: each dimension <= 2^40, so check the running product.
    uint64_t n = 1;
    for (int d = 0; d < 4; d++) {
      if (ti.ne[d] != 0 && n > (uint64_t(1) << 50) / static_cast<uint64_t>(ti.ne[d]))
        fail("GGUF_BAD_TENSOR", "Expected an element count below 2^50 for tensor " + ti.name);
      n *= static_cast<uint64_t>(ti.ne[d]);
    }
    if (ti.ne[0] % info.block_size != 0)
      fail("GGUF_BAD_TENSOR", "Expected a row length divisible by the " + std::string(info.name) + " block size " +
                                  std::to_string(info.block_size) + " for tensor " + ti.name + " but received " +
                                  std::to_string(ti.ne[0]));
    ti.nbytes = n / static_cast<uint64_t>(info.block_size) * info.type_size;
    if (ti.offset % g->alignment != 0)
      fail("GGUF_BAD_TENSOR", "Expected a data offset aligned to " + std::to_string(g->alignment) + " for tensor " +
                                  ti.name + " but received " + std::to_string(ti.offset));
    if (g->tensor_index_.count(ti.name)) fail("GGUF_BAD_TENSOR", "Duplicate tensor name " + ti.name);
    g->tensor_index_[ti.name] = g->tensors.size();
    g->tensors.push_back(std::move(ti));
  }

  // The data section starts at the next multiple of the alignment.
  uint64_t pos = r.pos();
  g->data_offset = (pos + g->alignment - 1) / g->alignment * g->alignment;
  for (auto& ti : g->tensors) {
    if (ti.offset > size || g->data_offset + ti.offset > size) {
      if (vocab_only) continue;  // a vocabulary-only load never touches tensor data
      fail("GGUF_TRUNCATED", "Tensor " + ti.name + " starts at data offset " + std::to_string(ti.offset) +
                                 ", past the end of the file (" + std::to_string(size) + " bytes)");
    }
    uint64_t start = g->data_offset + ti.offset;
    if (ti.nbytes > size - start) {
      if (vocab_only) continue;
      fail("GGUF_TRUNCATED", "Tensor " + ti.name + " needs bytes " + std::to_string(start) + ".." +
                                 std::to_string(start + ti.nbytes) + " but the file has " + std::to_string(size) +
                                 " bytes (truncated download?)");
    }
    ti.data = data + start;
  }
  return g;
}

std::unique_ptr<GgufFile> GgufFile::open(const std::string& path, bool vocab_only) {
  std::unique_ptr<MappedFile> f = MappedFile::open(path);
  std::unique_ptr<GgufFile> g = parse(f->data(), f->size(), vocab_only);
  g->file_ = std::move(f);
  return g;
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &metadata[it->second].second;
}

const GgufTensor* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors[it->second];
}

static const GgufValue& require(const GgufFile& g, const std::string& key) {
  const GgufValue* v = g.find(key);
  if (!v) fail("GGUF_MISSING_KEY", "Missing metadata key " + key);
  return *v;
}

static std::string describe(const GgufValue& v) {
  return std::string(gguf_value_type_name(v.type));
}

std::string GgufFile::get_string(const std::string& key) const {
  const GgufValue& v = require(*this, key);
  if (v.type != GgufValueType::STRING)
    fail("GGUF_BAD_METADATA", "Expected a string for " + key + " but received " + describe(v));
  return v.s;
}

std::string GgufFile::get_string_or(const std::string& key, const std::string& fallback) const {
  return find(key) ? get_string(key) : fallback;
}

uint64_t GgufFile::get_u64(const std::string& key) const {
  const GgufValue& v = require(*this, key);
  if (!v.is_integer()) fail("GGUF_BAD_METADATA", "Expected an integer for " + key + " but received " + describe(v));
  bool is_signed = v.type == GgufValueType::INT8 || v.type == GgufValueType::INT16 ||
                   v.type == GgufValueType::INT32 || v.type == GgufValueType::INT64;
  if (is_signed && v.i < 0)
    fail("GGUF_BAD_METADATA", "Expected a non-negative integer for " + key + " but received " + std::to_string(v.i));
  return v.u;
}

uint64_t GgufFile::get_u64_or(const std::string& key, uint64_t fallback) const {
  return find(key) ? get_u64(key) : fallback;
}

uint32_t GgufFile::get_u32(const std::string& key) const {
  uint64_t v = get_u64(key);
  if (v > std::numeric_limits<uint32_t>::max())
    fail("GGUF_BAD_METADATA", "Expected a 32-bit value for " + key + " but received " + std::to_string(v));
  return static_cast<uint32_t>(v);
}

uint32_t GgufFile::get_u32_or(const std::string& key, uint32_t fallback) const {
  return find(key) ? get_u32(key) : fallback;
}

double GgufFile::get_f64_or(const std::string& key, double fallback) const {
  const GgufValue* v = find(key);
  if (!v) return fallback;
  if (!v->is_number()) fail("GGUF_BAD_METADATA", "Expected a number for " + key + " but received " + describe(*v));
  return v->f;
}

bool GgufFile::get_bool_or(const std::string& key, bool fallback) const {
  const GgufValue* v = find(key);
  if (!v) return fallback;
  if (v->type != GgufValueType::BOOL) fail("GGUF_BAD_METADATA", "Expected a bool for " + key + " but received " + describe(*v));
  return v->b;
}

const GgufValue* GgufFile::get_array(const std::string& key, GgufValueType elem) const {
  const GgufValue* v = find(key);
  if (!v) return nullptr;
  if (v->type != GgufValueType::ARRAY)
    fail("GGUF_BAD_METADATA", "Expected an array for " + key + " but received " + describe(*v));
  bool ok = v->array_type == elem ||
            (elem != GgufValueType::STRING && v->array_type != GgufValueType::STRING && is_integer_type(elem) &&
             is_integer_type(v->array_type));
  if (!ok)
    fail("GGUF_BAD_METADATA", std::string("Expected an array of ") + gguf_value_type_name(elem) + " for " + key +
                                  " but received an array of " + gguf_value_type_name(v->array_type));
  return v;
}

}  // namespace hb
