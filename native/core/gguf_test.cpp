// GGUF reader: well-formed files parse; every malformed one gives a typed hb::Error.
#include <cstring>
#include <random>

#include "../tests/check.h"
#include "gguf.h"

namespace {

// Builds small GGUF images byte by byte, so each test can break exactly one thing.
struct Builder {
  std::vector<uint8_t> b;
  template <typename T>
  void put(T v) {
    uint8_t tmp[sizeof(T)];
    std::memcpy(tmp, &v, sizeof(T));
    b.insert(b.end(), tmp, tmp + sizeof(T));
  }
  void str(const std::string& s) {
    put<uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
  }
  void header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    b.insert(b.end(), {'G', 'G', 'U', 'F'});
    put<uint32_t>(version);
    put<uint64_t>(n_tensors);
    put<uint64_t>(n_kv);
  }
  void kv_u32(const std::string& k, uint32_t v) { str(k); put<uint32_t>(4); put<uint32_t>(v); }
  void kv_str(const std::string& k, const std::string& v) { str(k); put<uint32_t>(8); str(v); }
  void kv_f32(const std::string& k, float v) { str(k); put<uint32_t>(6); put<float>(v); }
  void kv_bool(const std::string& k, bool v) { str(k); put<uint32_t>(7); put<uint8_t>(v ? 1 : 0); }
  void kv_str_array(const std::string& k, const std::vector<std::string>& v) {
    str(k); put<uint32_t>(9); put<uint32_t>(8); put<uint64_t>(v.size());
    for (auto& s : v) str(s);
  }
  void tensor(const std::string& name, std::vector<int64_t> ne, uint32_t type, uint64_t offset) {
    str(name);
    put<uint32_t>(static_cast<uint32_t>(ne.size()));
    for (int64_t d : ne) put<int64_t>(d);
    put<uint32_t>(type);
    put<uint64_t>(offset);
  }
  void pad(size_t align = 32) { while (b.size() % align) b.push_back(0); }
  void data(size_t n, uint8_t fill = 0) { b.insert(b.end(), n, fill); }
};

// A valid file: 4 metadata pairs, two F32 tensors (4x2 and 8).
std::vector<uint8_t> valid_file() {
  Builder w;
  w.header(3, 2, 4);
  w.kv_str("general.architecture", "llama");
  w.kv_u32("llama.block_count", 2);
  w.kv_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.kv_str_array("tokenizer.ggml.tokens", {"a", "bc", ""});
  w.tensor("a.weight", {4, 2}, 0, 0);
  w.tensor("b.weight", {8}, 0, 32);
  w.pad();
  w.data(64, 0x3f);
  return w.b;
}

hb::GgufFile* parse(const std::vector<uint8_t>& bytes, std::unique_ptr<hb::GgufFile>& keep) {
  keep = hb::GgufFile::parse(bytes.data(), bytes.size());
  return keep.get();
}

}  // namespace

TEST(gguf_parses_valid_file) {
  auto bytes = valid_file();
  std::unique_ptr<hb::GgufFile> g;
  parse(bytes, g);
  CHECK_EQ(g->version, 3u);
  CHECK_EQ(g->metadata.size(), size_t(4));
  CHECK_EQ(g->get_string("general.architecture"), std::string("llama"));
  CHECK_EQ(g->get_u32("llama.block_count"), 2u);
  CHECK_NEAR(g->get_f64_or("llama.attention.layer_norm_rms_epsilon", 0), 1e-5, 1e-9);
  CHECK_EQ(g->get_array("tokenizer.ggml.tokens", hb::GgufValueType::STRING)->strs.size(), size_t(3));
  CHECK_EQ(g->tensors.size(), size_t(2));
  const hb::GgufTensor* a = g->find_tensor("a.weight");
  CHECK(a != nullptr);
  CHECK_EQ(a->nbytes, uint64_t(32));
  CHECK(a->data == bytes.data() + g->data_offset);
  CHECK_EQ(g->find_tensor("b.weight")->ne[0], int64_t(8));
}

TEST(gguf_typed_getters_report_key) {
  auto bytes = valid_file();
  std::unique_ptr<hb::GgufFile> g;
  parse(bytes, g);
  CHECK_THROWS_CODE(g->get_string("nope"), "GGUF_MISSING_KEY");
  CHECK_THROWS_CODE(g->get_u32("general.architecture"), "GGUF_BAD_METADATA");
  CHECK_THROWS_CODE(g->get_string("llama.block_count"), "GGUF_BAD_METADATA");
  CHECK_THROWS_CODE(g->get_array("tokenizer.ggml.tokens", hb::GgufValueType::FLOAT32), "GGUF_BAD_METADATA");
  CHECK_EQ(g->get_u32_or("missing.key", 7u), 7u);
}

TEST(gguf_bad_magic_and_version) {
  auto bytes = valid_file();
  bytes[0] = 'X';
  CHECK_THROWS_CODE(hb::GgufFile::parse(bytes.data(), bytes.size()), "GGUF_BAD_MAGIC");
  bytes = valid_file();
  bytes[4] = 1;
  CHECK_THROWS_CODE(hb::GgufFile::parse(bytes.data(), bytes.size()), "GGUF_UNSUPPORTED_VERSION");
  bytes[4] = 99;
  CHECK_THROWS_CODE(hb::GgufFile::parse(bytes.data(), bytes.size()), "GGUF_UNSUPPORTED_VERSION");
  CHECK_THROWS_CODE(hb::GgufFile::parse(bytes.data(), 0), "GGUF_TRUNCATED");
}

TEST(gguf_truncated_at_every_offset) {
  auto bytes = valid_file();
  for (size_t n = 0; n < bytes.size(); n++) {
    bool typed = false;
    try {
      hb::GgufFile::parse(bytes.data(), n);
    } catch (const hb::Error& e) {
      typed = e.code() == "GGUF_TRUNCATED" || e.code() == "GGUF_BAD_METADATA" || e.code() == "GGUF_BAD_TENSOR";
    }
    if (!typed) {
      hbtest::report(__FILE__, __LINE__, "truncation at " + std::to_string(n) + " did not give a typed error");
      break;
    }
  }
}

TEST(gguf_absurd_counts_and_lengths) {
  {  // metadata count far beyond the file
    Builder w;
    w.header(3, 0, uint64_t(1) << 60);
    CHECK_THROWS_CODE(hb::GgufFile::parse(w.b.data(), w.b.size()), "GGUF_BAD_METADATA");
  }
  {  // tensor count far beyond the file
    Builder w;
    w.header(3, ~uint64_t(0), 0);
    CHECK_THROWS_CODE(hb::GgufFile::parse(w.b.data(), w.b.size()), "GGUF_BAD_TENSOR");
  }
  {  // string length beyond the file
    Builder w;
    w.header(3, 0, 1);
    w.put<uint64_t>(~uint64_t(0) - 3);
    w.data(16);
    CHECK_THROWS_CODE(hb::GgufFile::parse(w.b.data(), w.b.size()), "GGUF_TRUNCATED");
  }
  {  // array length beyond the file
    Builder w;
    w.header(3, 0, 1);
    w.str("tokenizer.ggml.scores");
    w.put<uint32_t>(9);
    w.put<uint32_t>(6);
    w.put<uint64_t>(uint64_t(1) << 62);
    w.data(16);
    CHECK_THROWS_CODE(hb::GgufFile::parse(w.b.data(), w.b.size()), "GGUF_TRUNCATED");
  }
  {  // unknown value type, nested array
    Builder w;
    w.header(3, 0, 1);
    w.str("k");
    w.put<uint32_t>(77);
    w.data(16);
    CHECK_THROWS_CODE(hb::GgufFile::parse(w.b.data(), w.b.size()), "GGUF_BAD_METADATA");
    Builder n;
    n.header(3, 0, 1);
    n.str("k");
    n.put<uint32_t>(9);
    n.put<uint32_t>(9);
    n.put<uint64_t>(1);
    n.data(16);
    CHECK_THROWS_CODE(hb::GgufFile::parse(n.b.data(), n.b.size()), "GGUF_BAD_METADATA");
  }
  {  // duplicate key, bad bool, bad alignment
    Builder w;
    w.header(3, 0, 2);
    w.kv_u32("a", 1);
    w.kv_u32("a", 2);
    CHECK_THROWS_CODE(hb::GgufFile::parse(w.b.data(), w.b.size()), "GGUF_BAD_METADATA");
    Builder b;
    b.header(3, 0, 1);
    b.str("flag");
    b.put<uint32_t>(7);
    b.put<uint8_t>(5);
    CHECK_THROWS_CODE(hb::GgufFile::parse(b.b.data(), b.b.size()), "GGUF_BAD_METADATA");
    Builder al;
    al.header(3, 0, 1);
    al.kv_u32("general.alignment", 24);
    CHECK_THROWS_CODE(hb::GgufFile::parse(al.b.data(), al.b.size()), "GGUF_BAD_METADATA");
  }
}

TEST(gguf_bad_tensor_infos) {
  auto with_tensor = [](std::vector<int64_t> ne, uint32_t type, uint64_t offset, size_t data_bytes) {
    Builder w;
    w.header(3, 1, 0);
    w.tensor("blk.0.attn_q.weight", ne, type, offset);
    w.pad();
    w.data(data_bytes);
    return w.b;
  };
  auto b = with_tensor({32, 2}, 2, 0, 36);  // Q4_0: 2 blocks of 18 bytes
  CHECK(hb::GgufFile::parse(b.data(), b.size())->tensors[0].nbytes == 36);
  b = with_tensor({32, 2}, 2, 0, 35);  // data past the end of the file
  CHECK_THROWS_CODE(hb::GgufFile::parse(b.data(), b.size()), "GGUF_TRUNCATED");
  CHECK(hb::GgufFile::parse(b.data(), b.size(), /*vocab_only=*/true) != nullptr);
  b = with_tensor({32, 2}, 1234, 0, 64);  // unknown type id
  CHECK_THROWS_CODE(hb::GgufFile::parse(b.data(), b.size()), "UNSUPPORTED_TENSOR_TYPE");
  b = with_tensor({33, 2}, 2, 0, 64);  // row not a multiple of the block size
  CHECK_THROWS_CODE(hb::GgufFile::parse(b.data(), b.size()), "GGUF_BAD_TENSOR");
  b = with_tensor({4, 4, 4, 4, 4}, 0, 0, 4096);  // five dimensions
  CHECK_THROWS_CODE(hb::GgufFile::parse(b.data(), b.size()), "GGUF_BAD_TENSOR");
  b = with_tensor({-4, 2}, 0, 0, 64);  // negative dimension
  CHECK_THROWS_CODE(hb::GgufFile::parse(b.data(), b.size()), "GGUF_BAD_TENSOR");
  b = with_tensor({int64_t(1) << 40, int64_t(1) << 40}, 0, 0, 64);  // element count overflow
  CHECK_THROWS_CODE(hb::GgufFile::parse(b.data(), b.size()), "GGUF_BAD_TENSOR");
  b = with_tensor({8}, 0, 7, 64);  // misaligned offset
  CHECK_THROWS_CODE(hb::GgufFile::parse(b.data(), b.size()), "GGUF_BAD_TENSOR");
  b = with_tensor({8}, 0, ~uint64_t(0) - 31, 64);  // offset wraps around
  CHECK_THROWS_CODE(hb::GgufFile::parse(b.data(), b.size()), "GGUF_TRUNCATED");
}

TEST(gguf_random_corruption_never_crashes) {
  // Flip random bytes of a valid file: each result parses or throws hb::Error, nothing else.
  auto base = valid_file();
  std::mt19937 rng(1234);
  int others = 0;
  for (int iter = 0; iter < 20000; iter++) {
    auto bytes = base;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; f++) bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
    try {
      hb::GgufFile::parse(bytes.data(), rng() % 8 == 0 ? rng() % bytes.size() : bytes.size());
    } catch (const hb::Error&) {
    } catch (...) {
      ++others;
    }
  }
  CHECK_EQ(others, 0);
}

TEST(gguf_real_fixture) {
  auto g = hb::GgufFile::open(hbtest::fixtures_dir() + "/models/stories260K.gguf");
  CHECK_EQ(g->get_string("general.architecture"), std::string("llama"));
  CHECK_EQ(g->get_u32("llama.embedding_length"), 64u);
  CHECK_EQ(g->get_u32("llama.block_count"), 5u);
  CHECK_EQ(g->get_array("tokenizer.ggml.tokens", hb::GgufValueType::STRING)->strs.size(), size_t(512));
  const hb::GgufTensor* emb = g->find_tensor("token_embd.weight");
  CHECK(emb != nullptr);
  CHECK_EQ(emb->ne[0], int64_t(64));
  CHECK_EQ(emb->ne[1], int64_t(512));
  CHECK(emb->data >= g->file()->data() && emb->data + emb->nbytes <= g->file()->data() + g->file()->size());
  CHECK_THROWS_CODE(hb::GgufFile::open(hbtest::fixtures_dir() + "/does-not-exist.gguf"), "FILE_NOT_FOUND");
  CHECK_THROWS_CODE(hb::GgufFile::open(hbtest::fixtures_dir()), "FILE_READ_ERROR");
}
