// Session state files (Context::save_state / load_state).
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "context_impl.h"
#include "error.h"
#include "platform.h"
#include "gguf_writer.h"

namespace hb {

// ---------------------------------------------------------------------------------------------
// Session files. Layout (little-endian as written by this machine; every size explicit):
//   u32 magic length, magic bytes, u32 version (kStateVersion)
//   model: u64 fingerprint, u64 file size, u32 arch length, arch bytes,
//          i64 n_layer, n_embd, n_head_kv, head_dim, n_vocab, u32 KV type (kStateKvF16)
//   i64 n_past, i32 tokens[n_past]
//   per layer: i64 first (version 2: the first position kept: 0, or for a sliding-window layer
//   the start of its window), then K (n_past - first, Hkv*hd) F16 rows, then V (Hkv*hd,
//   n_past - first) F16 rows, positions first .. n_past-1 (version 1: first = 0, not stored)
//   u64 checksum: hash_bytes chained over every piece above, in order
// Nothing may follow the checksum.

namespace {

constexpr uint32_t kStateVersion = 2;  // version 1 (no per-layer first position) is still read
constexpr uint32_t kStateKvF16 = 1;
constexpr size_t kMaxMagic = 256;

void check_magic(const std::string& magic) {
  if (magic.empty() || magic.size() > kMaxMagic)
    fail("INVALID_ARGUMENT", "Expected a state file magic of 1 to " + std::to_string(kMaxMagic) +
                                 " bytes but received " + std::to_string(magic.size()));
}

// The session file through a durable FileSink (temporary file renamed by commit(), removed if
// commit() is never reached), with the checksum chained over every piece and appended by commit().
class StateWriter {
 public:
  explicit StateWriter(const std::string& path) : sink_(path, "the session file", /*durable=*/true) {}
  void put(const void* data, size_t n) {
    sink_.write(data, n);
    sum_ = hash_bytes(data, n, sum_);
  }
  template <class T>
  void put_value(T v) { put(&v, sizeof(v)); }
  void commit() {
    const uint64_t sum = sum_;
    sink_.write(&sum, sizeof(sum));
    sink_.commit();
  }

 private:
  FileSink sink_;
  uint64_t sum_ = 0;
};

class StateReader {
 public:
  explicit StateReader(const std::string& path) : path_(path) {
    file_ = platform::ReadOnlyFile::open(path).into_stdio();  // regular files only: a FIFO would block
    std::setvbuf(file_, nullptr, _IOFBF, size_t(1) << 20);
  }
  ~StateReader() { std::fclose(file_); }
  void get(void* data, size_t n, const char* what) {
    if (n && std::fread(data, 1, n, file_) != n) {
      if (std::ferror(file_)) fail("FILE_READ_ERROR", "Cannot read " + path_ + ": " + std::strerror(errno));
      bad(std::string("it ends early (truncated) in its ") + what);
    }
    sum_ = hash_bytes(data, n, sum_);
  }
  template <class T>
  T get_value(const char* what) {
    T v;
    get(&v, sizeof(v), what);
    return v;
  }
  // The stored checksum must match what was read, and nothing may follow it.
  void finish() {
    uint64_t stored;
    if (std::fread(&stored, 1, sizeof(stored), file_) != sizeof(stored)) bad("it ends early (truncated) before its checksum");
    if (stored != sum_) bad("its checksum does not match its contents (corrupt)");
    if (std::fgetc(file_) != EOF) bad("it has extra bytes after its end");
  }
  [[noreturn]] void bad(const std::string& why) {
    fail("STATE_BAD_FILE", "Expected a session state file but " + path_ + " is not a valid one: " + why);
  }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  uint64_t sum_ = 0;
};

std::string describe_model(const std::string& arch, int64_t n_layer, int64_t n_embd, int64_t n_head_kv,
                           int64_t head_dim, int64_t n_vocab) {
  return arch + " with " + std::to_string(n_layer) + " layers, " + std::to_string(n_embd) + " dims, " +
         std::to_string(n_head_kv) + " KV heads of " + std::to_string(head_dim) + ", " + std::to_string(n_vocab) +
         " tokens";
}

}  // namespace

void Context::save_state(const std::string& path, const std::string& magic, const std::vector<int32_t>& tokens) const {
  const Impl& c = *impl_;
  const HParams& hp = c.hp;
  check_magic(magic);
  if (static_cast<int64_t>(tokens.size()) != c.n_past)
    fail("INVALID_ARGUMENT", "Expected " + std::to_string(c.n_past) + " token ids (the tokens in the KV cache) but received " +
                                 std::to_string(tokens.size()));
  const int64_t P = c.n_past;
  StateWriter w(path);
  w.put_value(static_cast<uint32_t>(magic.size()));
  w.put(magic.data(), magic.size());
  w.put_value(kStateVersion);
  w.put_value(c.m.fingerprint);
  w.put_value(static_cast<uint64_t>(c.m.gguf->file_size()));
  w.put_value(static_cast<uint32_t>(hp.arch.size()));
  w.put(hp.arch.data(), hp.arch.size());
  for (int64_t v : {hp.n_layer, hp.n_embd, hp.n_head_kv, hp.head_dim, hp.n_vocab}) w.put_value(v);
  w.put_value(kStateKvF16);
  w.put_value(P);
  w.put(tokens.data(), tokens.size() * sizeof(int32_t));
  const KvCache& kv = *c.kv;
  for (int64_t il = 0; il < hp.n_layer; il++) {
    const int64_t first = kv.first_needed(il, P);
    w.put_value(first);
    const uint16_t* k_layer = kv.k(il);
    const uint16_t* v_layer = kv.v(il);
    const int64_t cap = kv.cap(il);
    for (int64_t p = first; p < P; p++) w.put(k_layer + kv.slot(il, p) * c.n_kv, static_cast<size_t>(c.n_kv) * sizeof(uint16_t));
    for (int64_t i = 0; i < c.n_kv; i++)
      for (int64_t p = first; p < P;) {  // runs of contiguous slots
        const int64_t s0 = kv.slot(il, p), run = std::min(P - p, cap - s0);
        w.put(v_layer + i * cap + s0, static_cast<size_t>(run) * sizeof(uint16_t));
        p += run;
      }
  }
  w.commit();
}

std::vector<int32_t> Context::load_state(const std::string& path, const std::string& magic) {
  Impl& c = *impl_;
  const HParams& hp = c.hp;
  check_magic(magic);
  c.n_past = 0;  // from here on a failure leaves the context empty; the cache rows are overwritten in place
  c.kv->set_window_floor(0);
  StateReader r(path);

  const uint32_t magic_len = r.get_value<uint32_t>("magic");
  if (magic_len != magic.size()) r.bad("it does not start with \"" + magic + "\"");
  std::string got_magic(magic_len, '\0');
  r.get(&got_magic[0], magic_len, "magic");
  if (got_magic != magic) r.bad("it does not start with \"" + magic + "\"");
  const uint32_t version = r.get_value<uint32_t>("version");
  if (version != kStateVersion && version != 1)
    r.bad("its format version is " + std::to_string(version) + " (this build reads version " +
          std::to_string(kStateVersion) + ")");

  const uint64_t fingerprint = r.get_value<uint64_t>("model fingerprint");
  const uint64_t file_size = r.get_value<uint64_t>("model fingerprint");
  const uint32_t arch_len = r.get_value<uint32_t>("model fingerprint");
  if (arch_len > 64) r.bad("its architecture name is " + std::to_string(arch_len) + " bytes long");
  std::string arch(arch_len, '\0');
  r.get(&arch[0], arch_len, "model fingerprint");
  int64_t dims[5];
  for (int64_t& d : dims) d = r.get_value<int64_t>("model fingerprint");
  const uint32_t kv_type = r.get_value<uint32_t>("model fingerprint");
  if (kv_type != kStateKvF16) r.bad("its KV cache type " + std::to_string(kv_type) + " is unknown");
  const std::string mine = describe_model(hp.arch, hp.n_layer, hp.n_embd, hp.n_head_kv, hp.head_dim, hp.n_vocab);
  const std::string theirs = describe_model(arch, dims[0], dims[1], dims[2], dims[3], dims[4]);
  if (mine != theirs)
    fail("STATE_MODEL_MISMATCH", "Expected a session state saved with this model (" + mine + ") but " + path +
                                     " was saved with another one (" + theirs + ")");
  if (fingerprint != c.m.fingerprint || file_size != c.m.gguf->file_size())
    fail("STATE_MODEL_MISMATCH", "Expected a session state saved with this model file but " + path +
                                     " was saved with another file of the same shape (" + mine + ")");

  const int64_t P = r.get_value<int64_t>("token count");
  if (P < 0 || P > (int64_t(1) << 24)) r.bad("its token count " + std::to_string(P) + " is out of range");
  if (P > c.n_ctx)
    fail("CONTEXT_FULL", "Expected a session state of at most " + std::to_string(c.n_ctx) +
                             " tokens (this context's size) but " + path + " holds " + std::to_string(P));
  std::vector<int32_t> tokens(static_cast<size_t>(P));
  r.get(tokens.data(), tokens.size() * sizeof(int32_t), "token ids");
  for (int64_t i = 0; i < P; i++)
    if (tokens[i] < 0 || tokens[i] >= hp.n_vocab)
      r.bad("token " + std::to_string(i) + " has id " + std::to_string(tokens[i]) + ", outside [0, " +
            std::to_string(hp.n_vocab) + ")");
  KvCache& kv = *c.kv;
  int64_t floor = 0;  // the highest first position of a window layer: window layers hold from there
  for (int64_t il = 0; il < hp.n_layer; il++) {
    const int64_t first = version == 1 ? 0 : r.get_value<int64_t>("KV cache");
    if (first < 0 || first > P) r.bad("layer " + std::to_string(il) + " starts at position " + std::to_string(first));
    // A full-attention layer needs every position; a window layer the last `window` ones (what
    // it holds below that is dropped if its ring cannot hold it).
    if (kv.window(il) == 0 && first != 0)
      r.bad("layer " + std::to_string(il) + " lacks positions before " + std::to_string(first));
    if (kv.window(il) > 0) floor = std::max(floor, first);
    uint16_t* k_layer = kv.k(il);
    uint16_t* v_layer = kv.v(il);
    const int64_t cap = kv.cap(il);
    // Positions below P - cap do not fit a ring layer: read and dropped (never needed).
    std::vector<uint16_t> drop;
    auto dst_k = [&](int64_t p) -> uint16_t* {
      if (P - p > cap) {
        drop.resize(static_cast<size_t>(c.n_kv));
        return drop.data();
      }
      return k_layer + kv.slot(il, p) * c.n_kv;
    };
    for (int64_t p = first; p < P; p++) r.get(dst_k(p), static_cast<size_t>(c.n_kv) * sizeof(uint16_t), "KV cache");
    uint16_t one;
    for (int64_t i = 0; i < c.n_kv; i++)
      for (int64_t p = first; p < P;) {
        if (P - p > cap) {
          r.get(&one, sizeof(one), "KV cache");
          p++;
          continue;
        }
        const int64_t s0 = kv.slot(il, p), run = std::min(P - p, cap - s0);
        r.get(v_layer + i * cap + s0, static_cast<size_t>(run) * sizeof(uint16_t), "KV cache");
        p += run;
      }
  }
  r.finish();
  for (int64_t p = 0; p < P; p++) kv.note_written(p);
  kv.set_window_floor(floor);
  c.n_past = P;
  return tokens;
}

}  // namespace hb
