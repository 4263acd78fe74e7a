// GGUF v3 writer. The header (metadata and tensor table) is laid out up front from the tensors'
// names, shapes and types, so tensor data can then stream out one piece at a time, in order,
// through any ByteSink: a file never needs the whole model in memory.
//
//   GgufWriter w;                       // alignment 32 unless general.alignment says otherwise
//   w.add("general.name", value);        // or add_raw() for bytes copied from another file
//   w.add_tensor("a.weight", 2, ne, GgmlType::Q4_K);
//   FileSink out(path);  w.begin(out);  w.write_data(bytes, n) ...;  w.finish();  out.commit();
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "ggml_types.h"
#include "gguf.h"

namespace hb {

// Where written bytes go. write() throws hb::Error on failure.
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual void write(const void* data, size_t n) = 0;
};

// Collects bytes in memory (tests, small files).
class MemorySink : public ByteSink {
 public:
  void write(const void* data, size_t n) override;
  std::vector<uint8_t> bytes;
};

// Writes to a temporary file beside `path`; commit() flushes, closes and renames it to `path`.
// Destroyed without commit() (an error or an abort), it closes and deletes the temporary file,
// so no partial output is ever left at `path`. Errors: FILE_WRITE_ERROR naming the path.
class FileSink : public ByteSink {
 public:
  // `noun` names the file in errors ("the session file"); `durable` fsyncs before the rename, so
  // a power loss cannot leave the renamed file without its data.
  explicit FileSink(const std::string& path, std::string noun = {}, bool durable = false);
  ~FileSink() override;
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;
  void write(const void* data, size_t n) override;
  void commit();
  uint64_t written() const { return written_; }
  const std::string& temp_path() const { return temp_path_; }

 private:
  [[noreturn]] void fail_io(const std::string& what, int err);
  std::string path_, temp_path_, noun_;
  bool durable_;
  std::FILE* file_ = nullptr;
  uint64_t written_ = 0;
  bool committed_ = false;
};

// One metadata entry of a GGUF image as encoded bytes (for exact copies through add_raw).
struct RawKv {
  std::string key;
  GgufValueType type;
  const uint8_t* value;  // the encoded value, inside the image
  size_t size;
};
// The metadata of the GGUF v2/v3 image [data, data+size), in file order. Throws GGUF_* errors
// on malformed input (normally the image was already parsed by GgufFile).
std::vector<RawKv> read_raw_metadata(const uint8_t* data, size_t size);

class GgufWriter {
 public:
  // Metadata, in the order added. Keys must be unique and non-empty; arrays must be flat.
  // add(): scalars from GgufValue's i / u / f / b / s, arrays from nums / strs (every element
  // must be representable in the array's element type). general.alignment sets the alignment.
  void add(const std::string& key, const GgufValue& value);
  // A value already encoded as GGUF bytes (everything after the key's type field), copied as is:
  // exact for every type, 64-bit arrays included. The bytes are checked to form one value.
  void add_raw(const std::string& key, GgufValueType type, const uint8_t* encoded, size_t n);
  bool has_key(const std::string& key) const;

  // Tensors, in file order. ne[0] is the row length; ne[d] for d >= n_dims must be 1.
  void add_tensor(const std::string& name, uint32_t n_dims, const int64_t ne[4], GgmlType type);

  uint64_t alignment() const { return alignment_; }
  size_t tensor_count() const { return tensors_.size(); }
  uint64_t tensor_bytes(size_t i) const { return tensors_[i].nbytes; }
  uint64_t tensor_offset(size_t i) const { return tensors_[i].offset; }  // within the data section
  uint64_t data_offset() const;  // where the data section starts in the file
  uint64_t file_size() const;    // total bytes the file will have

  // Header, metadata, tensor table and padding up to the data section.
  std::vector<uint8_t> header_bytes() const;

  // Streaming: begin() writes the header; write_data() takes tensor data in file order, in
  // pieces of any size, adding each tensor's alignment padding once it is complete; finish()
  // checks that every tensor got exactly its bytes. Metadata and tensors are frozen by begin().
  void begin(ByteSink& sink);
  void write_data(const void* data, size_t n);
  void finish();

 private:
  struct Kv {
    std::string key;
    GgufValueType type;
    std::vector<uint8_t> encoded;
  };
  struct TensorInfo {
    std::string name;
    uint32_t n_dims;
    int64_t ne[4];
    GgmlType type;
    uint64_t nbytes, offset;
  };
  void add_encoded(const std::string& key, GgufValueType type, std::vector<uint8_t> encoded);
  void check_open(const char* what) const;

  std::vector<Kv> kvs_;
  std::vector<TensorInfo> tensors_;
  uint64_t alignment_ = 32;
  uint64_t data_bytes_ = 0;  // data section size so far (padded)
  ByteSink* sink_ = nullptr;
  bool finished_ = false;
  size_t cur_tensor_ = 0;     // streaming position
  uint64_t cur_written_ = 0;  // bytes of the current tensor written
};

}  // namespace hb
