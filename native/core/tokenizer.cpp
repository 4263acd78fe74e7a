// Tokenizers of LLaMA-family vocabularies, following llama.cpp (src/llama-vocab.cpp) as the
// specification: metadata defaults and overrides, special-token detection, the EOG set, special
// token partitioning, the SentencePiece ("llama") and byte-level BPE ("gpt2") algorithms,
// token_to_piece and detokenize. Written independently; comments note where llama.cpp's
// behaviour is surprising but deliberately reproduced.
#include "tokenizer.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <unordered_map>

#include "error.h"
#include "gguf.h"
#include "unicode.h"

namespace hb {

namespace {

// llama.cpp's llama_token_attr bits (a token can carry several).
enum : uint16_t {
  kAttrUnknown = 1 << 0,
  kAttrUnused = 1 << 1,
  kAttrNormal = 1 << 2,
  kAttrControl = 1 << 3,
  kAttrUserDefined = 1 << 4,
  kAttrByte = 1 << 5,
  kAttrLstrip = 1 << 7,
  kAttrRstrip = 1 << 8,
};

const char* const kSpaceMark = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

uint64_t hash_bytes(const char* s, size_t n) {
  // 8 bytes at a time, multiply-xorshift mixing, with a final avalanche so the low bits used by
  // the open-addressing tables below are well distributed.
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xC2B2AE3D27D4EB4Full);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, s + i, 8);
    h = (h ^ w) * 0xFF51AFD7ED558CCDull;
    h ^= h >> 32;
  }
  if (i < n) {
    uint64_t w = 0;
    std::memcpy(&w, s + i, n - i);
    h = (h ^ w) * 0xFF51AFD7ED558CCDull;
  }
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 33;
  return h;
}

// Interned strings -> ids (0, 1, ... in insertion order), stored in one arena so a lookup is
// one slot probe plus one compare, with no per-lookup allocation. Slots hold a hash fingerprint
// so mismatches rarely touch the arena.
class StringTable {
 public:
  void reserve(size_t n_strings, size_t n_bytes) {
    arena_.reserve(n_bytes);
    off_.reserve(n_strings + 1);
    size_t cap = 16;
    while (cap < n_strings * 2 + 16) cap <<= 1;
    if (cap > slots_.size()) rehash(cap);
  }
  size_t size() const { return off_.empty() ? 0 : off_.size() - 1; }
  std::string_view view(int32_t id) const {
    return std::string_view(arena_.data() + off_[static_cast<size_t>(id)], off_[static_cast<size_t>(id) + 1] - off_[static_cast<size_t>(id)]);
  }
  int32_t find(const char* s, size_t n) const {
    if (slots_.empty()) return -1;
    const uint64_t h = hash_bytes(s, n);
    const uint32_t fp = static_cast<uint32_t>(h >> 32);
    const size_t mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      const uint64_t e = slots_[i];
      if (e == 0) return -1;
      if (static_cast<uint32_t>(e >> 32) == fp) {
        const int32_t id = static_cast<int32_t>(static_cast<uint32_t>(e) - 1);
        const std::string_view v = view(id);
        if (v.size() == n && std::memcmp(v.data(), s, n) == 0) return id;
      }
    }
  }
  int32_t find(std::string_view s) const { return find(s.data(), s.size()); }
  // The id of s, adding it if new.
  int32_t intern(const char* s, size_t n) {
    const int32_t found = find(s, n);
    if (found >= 0) return found;
    if ((size() + 1) * 2 > slots_.size()) rehash(std::max<size_t>(16, slots_.size() * 2));
    if (off_.empty()) off_.push_back(0);
    const int32_t id = static_cast<int32_t>(size());
    arena_.append(s, n);
    off_.push_back(static_cast<uint32_t>(arena_.size()));
    place(hash_bytes(s, n), id);
    return id;
  }
  int32_t intern(std::string_view s) { return intern(s.data(), s.size()); }

 private:
  void place(uint64_t h, int32_t id) {
    const size_t mask = slots_.size() - 1;
    size_t i = h & mask;
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = ((h >> 32) << 32) | (static_cast<uint32_t>(id) + 1);
  }
  void rehash(size_t cap) {
    slots_.assign(cap, 0);
    for (size_t id = 0; id < size(); ++id) {
      const std::string_view v = view(static_cast<int32_t>(id));
      place(hash_bytes(v.data(), v.size()), static_cast<int32_t>(id));
    }
  }
  std::string arena_;
  std::vector<uint32_t> off_;
  std::vector<uint64_t> slots_;
};

// (left, right) intern-id pair -> merge rank and the intern id of the merged string.
class MergeTable {
 public:
  struct Entry {
    uint64_t key;
    int32_t rank;
    int32_t result;
  };
  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < n * 2 + 16) cap <<= 1;
    slots_.assign(cap, Entry{kEmpty, 0, 0});
  }
  // First insertion wins, as std::unordered_map::emplace in llama.cpp.
  void insert(int32_t left, int32_t right, int32_t rank, int32_t result) {
    const uint64_t key = pack(left, right);
    size_t mask = slots_.size() - 1, i = mix(key) & mask;
    while (slots_[i].key != kEmpty) {
      if (slots_[i].key == key) return;
      i = (i + 1) & mask;
    }
    slots_[i] = Entry{key, rank, result};
  }
  const Entry* find(int32_t left, int32_t right) const {
    if (slots_.empty()) return nullptr;
    const uint64_t key = pack(left, right);
    size_t mask = slots_.size() - 1, i = mix(key) & mask;
    while (true) {
      const Entry& e = slots_[i];
      if (e.key == key) return &e;
      if (e.key == kEmpty) return nullptr;
      i = (i + 1) & mask;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~0ull;
  static uint64_t pack(int32_t l, int32_t r) { return (static_cast<uint64_t>(static_cast<uint32_t>(l)) << 32) | static_cast<uint32_t>(r); }
  static uint64_t mix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
  }
  std::vector<Entry> slots_;
};

// Binary heap with an explicit "a before b" order (the same pop order as std::priority_queue
// with llama.cpp's comparators, since valid entries never tie).
template <typename T, typename Before>
class Heap {
 public:
  void clear() { v_.clear(); }
  bool empty() const { return v_.empty(); }
  void push(const T& x) {
    v_.push_back(x);
    size_t i = v_.size() - 1;
    while (i > 0) {
      size_t p = (i - 1) / 2;
      if (!Before()(v_[i], v_[p])) break;
      std::swap(v_[i], v_[p]);
      i = p;
    }
  }
  T pop() {
    T top = v_[0];
    v_[0] = v_.back();
    v_.pop_back();
    size_t i = 0, n = v_.size();
    while (true) {
      size_t l = 2 * i + 1, r = l + 1, best = i;
      if (l < n && Before()(v_[l], v_[best])) best = l;
      if (r < n && Before()(v_[r], v_[best])) best = r;
      if (best == i) break;
      std::swap(v_[i], v_[best]);
      i = best;
    }
    return top;
  }

 private:
  std::vector<T> v_;
};

struct Symbol {
  int32_t prev, next;
  uint32_t off, n;  // SPM: bytes of the text; BPE: bytes of the word
  int32_t intern;   // BPE: intern id of the symbol's string (-1: none)
};

struct SpmBigram {
  float score;
  int32_t left, right;
  uint32_t size;
};
struct SpmBefore {  // higher score first, then leftmost
  bool operator()(const SpmBigram& a, const SpmBigram& b) const { return a.score > b.score || (a.score == b.score && a.left < b.left); }
};

struct BpeBigram {
  int32_t rank;
  int32_t left, right;
  uint32_t size;
  int32_t result;
};
struct BpeBefore {  // lower rank first, then leftmost
  bool operator()(const BpeBigram& a, const BpeBigram& b) const { return a.rank < b.rank || (a.rank == b.rank && a.left < b.left); }
};

// ---- pre-tokenizers (tokenizer.ggml.pre), per llama.cpp's llama_vocab::impl::load and
// llm_tokenizer_bpe -----------------------------------------------------------------------

const char* const kReGpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const char* const kReLlama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const kReQwen2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const kReDeepseekV3Main =
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+";
const char* const kReCjk = "[\xE4\xB8\x80-\xE9\xBE\xA5\xE3\x81\x80-\xE3\x82\x9F\xE3\x82\xA0-\xE3\x83\xBF]+";  // [一-龥぀-ゟ゠-ヿ]+
const char* const kRePoro = " ?[^(\\s|.,!?\xE2\x80\xA6\xE3\x80\x82\xEF\xBC\x8C\xE3\x80\x81\xE0\xA5\xA4\xDB\x94\xD8\x8C)]+";  // …。，、।۔،

struct PreSpec {
  std::vector<std::string> regexes;
  bool ignore_merges = false;
  bool add_bos = false;  // default before tokenizer.ggml.add_bos_token
  bool clean_spaces = true;
  bool escape_whitespaces = false;  // SPM-style BPE: spaces become U+2581 first
  bool byte_encode = true;          // GPT-2 byte mapping (false: raw UTF-8, <0xXX> byte tokens)
  bool no_bos = false;              // chatglm: no default BOS id
};

// Returns false for names llama.cpp does not know (or that need tokenizer models halfbyte lacks).
bool lookup_pre(const std::string& pre, PreSpec& s) {
  auto is = [&](std::initializer_list<const char*> names) {
    for (const char* n : names) {
      if (pre == n) return true;
    }
    return false;
  };
  const std::string gpt2 = kReGpt2, llama3 = kReLlama3, qwen2 = kReQwen2;
  if (pre.empty() || pre == "default") {
    s.regexes = {"[\\p{P}\\$\\+<=>\\^~\\|]+", gpt2, "\\p{N}+", "[0-9][0-9][0-9]"};
  } else if (is({"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"})) {
    s.regexes = {llama3};
    s.ignore_merges = true;
    s.add_bos = true;
  } else if (is({"dbrx", "smaug-bpe"})) {
    s.regexes = {llama3};
  } else if (pre == "jais-2") {
    s.regexes = {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
                 "\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}"};
  } else if (pre == "deepseek-llm") {
    s.regexes = {
        "[\r\n]",
        // \s?[A-Za-zµÀ-ÖØ-öø-ƺ...]+ : letters, from DeepSeek's tokenizer.json (kept byte-exact)
        "\\s?[A-Za-z\xC2\xB5\xC3\x80-\xC3\x96\xC3\x98-\xC3\xB6\xC3\xB8-\xC6\xBA\xC6\xBC-\xC6\xBF\xC7\x84-\xCA\x93\xCA\x95-\xCA\xAF"
        "\xCD\xB0-\xCD\xB3\xCD\xB6\xCD\xB7\xCD\xBB-\xCD\xBD\xCD\xBF\xCE\x86\xCE\x88-\xCE\x8A\xCE\x8C\xCE\x8E-\xCE\xA1\xCE\xA3-\xCF\xB5"
        "\xCF\xB7-\xD2\x81\xD2\x8A-\xD4\xAF\xD4\xB1-\xD5\x96\xE1\x82\xA0-\xE1\x83\x85\xE1\x8E\xA0-\xE1\x8F\xB5\xE1\x8F\xB8-\xE1\x8F\xBD"
        "\xE1\xB2\x90-\xE1\xB2\xBA\xE1\xB2\xBD-\xE1\xB2\xBF\xE1\xB4\x80-\xE1\xB4\xAB\xE1\xB5\xAB-\xE1\xB5\xB7\xE1\xB5\xB9-\xE1\xB6\x9A"
        "\xE1\xB8\x80-\xE1\xBC\x95\xE1\xBC\x98-\xE1\xBC\x9D\xE1\xBC\xA0-\xE1\xBD\x85\xE1\xBD\x88-\xE1\xBD\x8D\xE1\xBD\x90-\xE1\xBD\x97"
        "\xE1\xBD\x99\xE1\xBD\x9B\xE1\xBD\x9D\xE1\xBD\x9F-\xE1\xBD\xBD\xE1\xBE\x80-\xE1\xBE\xB4\xE1\xBE\xB6-\xE1\xBE\xBC\xE1\xBE\xBE"
        "\xE1\xBF\x82-\xE1\xBF\x84\xE1\xBF\x86-\xE1\xBF\x8C\xE1\xBF\x90-\xE1\xBF\x93\xE1\xBF\x96-\xE1\xBF\x9B\xE1\xBF\xA0-\xE1\xBF\xAC"
        "\xE1\xBF\xB2-\xE1\xBF\xB4\xE1\xBF\xB6-\xE1\xBF\xBC\xE2\x84\x82\xE2\x84\x87\xE2\x84\x8A-\xE2\x84\x93\xE2\x84\x95\xE2\x84\x99-\xE2\x84\x9D"
        "\xE2\x84\xA4\xE2\x84\xA6\xE2\x84\xA8\xE2\x84\xAA-\xE2\x84\xAD\xE2\x84\xAF-\xE2\x84\xB4\xE2\x84\xB9\xE2\x84\xBC-\xE2\x84\xBF"
        "\xE2\x85\x85-\xE2\x85\x89\xE2\x85\x8E\xE2\x86\x83\xE2\x86\x84\xE2\xB0\x80-\xE2\xB1\xBB\xE2\xB1\xBE-\xE2\xB3\xA4\xE2\xB3\xAB-\xE2\xB3\xAE"
        "\xE2\xB3\xB2\xE2\xB3\xB3\xEA\x99\x80-\xEA\x99\xAD\xEA\x9A\x80-\xEA\x9A\x9B\xEA\x9C\xA2-\xEA\x9D\xAF\xEA\x9D\xB1-\xEA\x9E\x87"
        "\xEA\x9E\x8B-\xEA\x9E\x8E\xEA\xAD\xB0-\xEA\xAE\xBF\xEF\xAC\x80-\xEF\xAC\x86\xEF\xAC\x93-\xEF\xAC\x97\xEF\xBC\xA1-\xEF\xBC\xBA"
        "\xEF\xBD\x81-\xEF\xBD\x9A\xF0\x90\x90\x80-\xF0\x90\x91\x8F\xF0\x90\x92\xB0-\xF0\x90\x93\x93\xF0\x90\x93\x98-\xF0\x90\x93\xBB"
        "\xF0\x90\xB2\x80-\xF0\x90\xB2\xB2\xF0\x90\xB3\x80-\xF0\x90\xB3\xB2\xF0\x91\xA2\xA0-\xF0\x91\xA3\x9F\xF0\x9E\xA4\x80-\xF0\x9E\xA5\x83]+",
        // \s?[!-/:-~！-／：-～‘-‟　-。]+
        "\\s?[!-/:-~\xEF\xBC\x81-\xEF\xBC\x8F\xEF\xBC\x9A-\xEF\xBD\x9E\xE2\x80\x98-\xE2\x80\x9F\xE3\x80\x80-\xE3\x80\x82]+",
        "\\s+$",
        // [一-龥ࠀ-一가-퟿]+
        "[\xE4\xB8\x80-\xE9\xBE\xA5\xE0\xA0\x80-\xE4\xB8\x80\xEA\xB0\x80-\xED\x9F\xBF]+",
        "\\p{N}+"};
    s.clean_spaces = false;
  } else if (pre == "deepseek-coder") {
    s.regexes = {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[\xE4\xB8\x80-\xE9\xBE\xA5\xE0\xA0\x80-\xE4\xB8\x80\xEA\xB0\x80-\xED\x9F\xBF]+", "\\p{N}"};
    s.clean_spaces = false;
  } else if (is({"deepseek-v3", "hunyuan-dense", "hy_v4", "joyai-llm"})) {
    s.regexes = {"\\p{N}{1,3}", kReCjk, kReDeepseekV3Main};
    s.clean_spaces = false;
  } else if (pre == "spark2_5") {
    s.regexes = {"\\p{N}{1,3}", kReCjk,
                 "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+|[\r\n]|\\s+(?!\\S)|\\s+",
                 "\\p{N}"};
    s.clean_spaces = false;
  } else if (pre == "youtu") {
    s.regexes = {
        // [가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥぀-ゟ゠-ヿ]+
        "[\xEA\xB0\x80-\xED\x9E\xA3\xE3\x84\xB1-\xE3\x86\x8E]+|[\xEF\xBC\x81\xE2\x80\xA6\xE2\x80\x9C\xE2\x80\x9D\xE2\x80\x98\xE2\x80\x99\xE2\x80\x94"
        "\xEF\xBC\x9A\xEF\xBC\x9B\xEF\xBC\x8C\xE3\x80\x81-\xE3\x80\xBF\xEF\xB8\xB0-\xEF\xB9\x8F]+|[\xE3\x84\x85-\xE3\x84\xAF]+|"
        "[\xE4\xB8\x80-\xE9\xBE\xA5\xE3\x81\x80-\xE3\x82\x9F\xE3\x82\xA0-\xE3\x83\xBF]+",
        "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?"
        "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?"
        "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
    s.clean_spaces = false;
    s.ignore_merges = true;
  } else if (pre == "falcon") {
    s.regexes = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", gpt2, "[0-9][0-9][0-9]"};
  } else if (is({"starcoder", "refact", "smollm", "codeshell", "exaone", "minerva-7b", "mellum2"})) {
    s.regexes = {"\\p{N}", gpt2};
    if (pre == "smollm") s.clean_spaces = false;
  } else if (pre == "command-r") {
    s.regexes = {"\\p{N}", gpt2};
    s.clean_spaces = false;
  } else if (is({"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum", "modern-bert",
                 "jina-v1-en", "jina-v2-code", "roberta-bpe", "exaone4", "mpt", "olmo", "jais"})) {
    s.regexes = {gpt2};
  } else if (is({"trillion", "granite-docling"})) {
    s.regexes = {gpt2};
    s.clean_spaces = false;
  } else if (is({"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "hunyuan", "solar-open", "grok-2"})) {
    s.regexes = {qwen2};
    s.clean_spaces = false;
  } else if (is({"stablelm2", "megrez"})) {
    s.regexes = {qwen2};
  } else if (pre == "qwen35") {
    s.regexes = {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
    s.clean_spaces = false;
  } else if (is({"bloom", "gpt3-finnish"})) {
    s.regexes = {kRePoro};
  } else if (pre == "poro-chat") {
    s.regexes = {kRePoro};
    s.clean_spaces = false;
  } else if (pre == "viking") {
    s.regexes = {kRePoro, "\\p{N}"};
    s.clean_spaces = false;
  } else if (is({"glm4", "chatglm-bpe"})) {
    s.regexes = {llama3};
    s.no_bos = true;
  } else if (pre == "tekken") {
    s.regexes = {"[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*"
                 "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
    s.clean_spaces = false;
    s.ignore_merges = true;
    s.add_bos = true;
  } else if (pre == "chameleon") {
    s.regexes = {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )", "\\p{N}", "[\\p{P}!-/:-@\\[-`{-~]", gpt2};
    s.add_bos = true;
    s.clean_spaces = false;
  } else if (is({"gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"})) {
    s.regexes = {"[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?"
                 "|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?"
                 "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
    s.clean_spaces = false;
  } else if (pre == "granite-embed-multi-97m") {
    s.regexes = {"[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))*((?=[\\p{L}\\p{M}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?"
                 "|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))+((?=[\\p{L}\\p{M}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?"
                 "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
    s.clean_spaces = false;
    s.ignore_merges = true;
  } else if (is({"tiny_aya", "cohere2moe"})) {
    s.regexes = {"\\d{1,3}(?=(?:\\d{3})*\\b)",
                 "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?"
                 "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?"
                 "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
    s.clean_spaces = false;
  } else if (pre == "kimi-k2") {
    s.regexes = {"\\p{Han}+"};
    s.clean_spaces = false;
  } else if (pre == "superbpe") {
    s.regexes = {"\\p{N}+", "(?=(\\d{3})+(?!\\d))"};
    s.clean_spaces = false;
  } else if (is({"bailingmoe", "bailingmoe2", "llada-moe"})) {
    s.regexes = {"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"};
    s.clean_spaces = false;
  } else if (pre == "seed-coder") {
    s.regexes = {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
    s.clean_spaces = false;
  } else if (pre == "ufakzeka") {
    s.regexes = {"[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
    s.clean_spaces = false;
  } else if (pre == "afmoe") {
    s.regexes = {
        "\\p{AFMoE_digits}",
        // [一-鿿㐀-䶿豈-﫿぀-ゟ゠-ヿ･-ﾟ⼀-⿟เ-๿຀-໿ក-៿က-႟ꩠ-ꩿꧠ-꧿가-힯ᄀ-ᇿ]+
        "[\xE4\xB8\x80-\xE9\xBF\xBF\xE3\x90\x80-\xE4\xB6\xBF\xEF\xA4\x80-\xEF\xAB\xBF\xE3\x81\x80-\xE3\x82\x9F\xE3\x82\xA0-\xE3\x83\xBF"
        "\xEF\xBD\xA5-\xEF\xBE\x9F\xE2\xBC\x80-\xE2\xBF\x9F\xE0\xB9\x80-\xE0\xB9\xBF\xE0\xBA\x80-\xE0\xBB\xBF\xE1\x9E\x80-\xE1\x9F\xBF"
        "\xE1\x80\x80-\xE1\x82\x9F\xEA\xA9\xA0-\xEA\xA9\xBF\xEA\xA7\xA0-\xEA\xA7\xBF\xEA\xB0\x80-\xED\x9E\xAF\xE1\x84\x80-\xE1\x87\xBF]+",
        "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
    s.clean_spaces = false;
  } else if (pre == "laguna") {
    s.regexes = {"[^\\n]+|[\\n]+", qwen2};
    s.clean_spaces = false;
  } else if (pre == "exaone-moe") {
    s.regexes = {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"};
  } else if (pre == "minicpm5") {
    s.regexes = {"\\p{N}{1,3}",
                 "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
    s.ignore_merges = true;
  } else if (pre == "sarvam-moe") {
    s.regexes = {"[^\\n]+|[\\n]+"};
    s.escape_whitespaces = true;
    s.byte_encode = false;
    s.clean_spaces = false;
  } else {
    return false;
  }
  return true;
}

bool is_c_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// A piece of the input during special-token partitioning: raw text or an already-known token.
struct Fragment {
  int32_t token;  // -1: raw text
  size_t off, len;
};

class VocabTokenizer : public Tokenizer {
 public:
  enum class Kind { None, Spm, Bpe };

  explicit VocabTokenizer(const GgufFile& g) { load(g); }

  std::vector<int32_t> tokenize(const std::string& text, bool add_special, bool parse_special) const override;
  std::string token_to_piece(int32_t id, bool render_special) const override;
  std::string detokenize(const std::vector<int32_t>& ids, bool render_special) const override;

 private:
  Kind kind_ = Kind::Spm;
  std::vector<uint16_t> bits_;  // llama.cpp token attributes
  // Token texts get ids 0..n_vocab-1; BPE merge parts that are not tokens follow (so an id below
  // n_vocab is a token id).
  StringTable strings_;
  bool add_space_prefix_ = false, clean_spaces_ = false, ignore_merges_ = false;
  bool escape_whitespaces_ = false, byte_encode_ = true;
  int32_t fim_pre_ = -1, fim_suf_ = -1, fim_mid_ = -1, fim_pad_ = -1, fim_rep_ = -1, fim_sep_ = -1, sep_ = -1, mask_ = -1;
  std::vector<int32_t> special_cache_;  // control / user-defined / unknown tokens, longest text first
  std::vector<std::vector<uint32_t>> special_by_byte_;  // first byte -> indices into special_cache_
  // SPM: no token has U+2581 after some other character, so no merge can cross into a "▁word":
  // the text can be processed word by word with the same result (and far less heap traffic).
  bool spm_word_chunks_ = false;
  int32_t spm_byte_token_[256];         // SPM byte fallback (<0xXX>, else the 1-byte token), -1 if none
  // BPE
  MergeTable merges_;
  int32_t byte_intern_[256];  // intern id of each byte's GPT-2 character
  std::unique_ptr<unicode::PreTokenizer> pre_tok_;

  void load(const GgufFile& g);
  void finish_special_tokens(const GgufFile& g);
  void partition(const std::string& text, std::vector<Fragment>& frags, bool parse_special) const;
  void tokenize_spm(const std::string& text, std::vector<int32_t>& out) const;
  struct SpmScratch {
    std::vector<Symbol> sym;
    Heap<SpmBigram, SpmBefore> heap;
  };
  void spm_merge(const std::string& text, size_t begin, size_t end, SpmScratch& scratch, std::vector<int32_t>& out) const;
  void tokenize_bpe(const char* text, size_t n, std::vector<int32_t>& out) const;
  struct BpeScratch {
    std::vector<Symbol> sym;
    Heap<BpeBigram, BpeBefore> heap;
  };
  void bpe_word(const std::string& enc, const std::vector<uint32_t>& sym_info, BpeScratch& scratch, std::vector<int32_t>& out) const;
  int32_t find_token(const char* s, size_t n) const {
    const int32_t id = strings_.find(s, n);
    return id < static_cast<int32_t>(tokens_.size()) ? id : -1;
  }
  int32_t find_token(std::string_view s) const { return find_token(s.data(), s.size()); }
  void check_id(int32_t id) const {
    if (id < 0 || id >= n_vocab())
      fail("TOKEN_OUT_OF_RANGE", "Expected a token id in [0, " + std::to_string(n_vocab()) + ") but received " + std::to_string(id));
  }
};

// ---- loading -------------------------------------------------------------------------------

int32_t read_special_id(const GgufFile& g, const char* key, int32_t current, size_t n_tokens) {
  // llama.cpp: an out-of-range default is disabled; an out-of-range value in the file is ignored
  // (with a warning) and the default kept.
  if (current >= 0 && static_cast<size_t>(current) >= n_tokens) current = -1;
  const GgufValue* v = g.find(key);
  if (!v) return current;
  if (!v->is_integer())
    fail("GGUF_BAD_METADATA", std::string("Expected an integer token id for ") + key + " but received " + gguf_value_type_name(v->type));
  const bool is_signed = v->type == GgufValueType::INT8 || v->type == GgufValueType::INT16 || v->type == GgufValueType::INT32 ||
                         v->type == GgufValueType::INT64;
  if (is_signed && v->i < 0) return current;
  if (v->u >= n_tokens) return current;
  return static_cast<int32_t>(v->u);
}

void VocabTokenizer::load(const GgufFile& g) {
  const GgufValue* model = g.find("tokenizer.ggml.model");
  if (!model) fail("TOKENIZER_MISSING", "Expected tokenizer.ggml.model in the GGUF metadata but received none");
  if (model->type != GgufValueType::STRING)
    fail("GGUF_BAD_METADATA", std::string("Expected a string for tokenizer.ggml.model but received ") + gguf_value_type_name(model->type));
  model_ = model->s;
  const GgufValue* pre = g.find("tokenizer.ggml.pre");
  if (pre && pre->type != GgufValueType::STRING)
    fail("GGUF_BAD_METADATA", std::string("Expected a string for tokenizer.ggml.pre but received ") + gguf_value_type_name(pre->type));
  pre_ = pre ? pre->s : "";

  PreSpec spec;
  if (model_ == "no_vocab" || model_ == "none") {
    kind_ = Kind::None;
    // llama.cpp adds <arch>.vocab_size dummy tokens
    const uint32_t n = g.get_u32_or(g.get_string_or("general.architecture", "") + ".vocab_size", 0);
    tokens_.assign(n, std::string());
    scores_.assign(n, 0.0f);
    attrs_.assign(n, TokenAttr::Undefined);
    bits_.assign(n, 0);
    return;
  } else if (model_ == "llama") {
    kind_ = Kind::Spm;
    bos_ = 1, eos_ = 2, unk_ = 0;
    add_space_prefix_ = true;
    add_bos_ = true;
    add_eos_ = false;
  } else if (model_ == "gpt2") {
    kind_ = Kind::Bpe;
    bos_ = 11, eos_ = 11, unk_ = -1;
    if (!lookup_pre(pre_, spec))
      fail("UNSUPPORTED_TOKENIZER", "Expected a pre-tokenizer (tokenizer.ggml.pre) that llama.cpp supports but received '" + pre_ + "'");
    add_space_prefix_ = false;
    clean_spaces_ = spec.clean_spaces;
    ignore_merges_ = spec.ignore_merges;
    escape_whitespaces_ = spec.escape_whitespaces;
    byte_encode_ = spec.byte_encode;
    add_bos_ = spec.add_bos;
    if (spec.no_bos) bos_ = -1;
  } else {
    fail("UNSUPPORTED_TOKENIZER",
         "Expected tokenizer.ggml.model 'llama' (SentencePiece) or 'gpt2' (byte-level BPE) but received '" + model_ + "'");
  }
  add_space_prefix_ = g.get_bool_or("tokenizer.ggml.add_space_prefix", add_space_prefix_);
  (void)g.get_bool_or("tokenizer.ggml.remove_extra_whitespaces", false);  // read (type-checked) but unused by SPM/BPE, as in llama.cpp

  const GgufValue* toks = g.find("tokenizer.ggml.tokens");
  if (!toks) fail("TOKENIZER_MISSING", "Expected tokenizer.ggml.tokens in the GGUF metadata but received none");
  if (!toks->is_array() || toks->array_type != GgufValueType::STRING)
    fail("GGUF_BAD_METADATA", "Expected an array of strings for tokenizer.ggml.tokens");
  const size_t n = toks->strs.size();
  if (n > 0x7FFFFFF0) fail("GGUF_BAD_METADATA", "Expected fewer than 2^31 tokens but received " + std::to_string(n));

  const GgufValue* scores = g.find("tokenizer.ggml.scores");
  if (scores) {
    if (!scores->is_array() || (scores->array_type != GgufValueType::FLOAT32 && scores->array_type != GgufValueType::INT32))
      fail("GGUF_BAD_METADATA", "Expected an array of float32 or int32 for tokenizer.ggml.scores");
    if (scores->nums.size() < n)
      fail("GGUF_BAD_METADATA", "Expected at least " + std::to_string(n) + " tokenizer.ggml.scores but received " + std::to_string(scores->nums.size()));
  }
  const GgufValue* types = g.find("tokenizer.ggml.token_type");
  if (types) {
    if (!types->is_array() || types->array_type != GgufValueType::INT32)
      fail("GGUF_BAD_METADATA", "Expected an array of int32 for tokenizer.ggml.token_type");
    if (types->nums.size() < n)
      fail("GGUF_BAD_METADATA", "Expected at least " + std::to_string(n) + " tokenizer.ggml.token_type but received " + std::to_string(types->nums.size()));
  }

  tokens_.resize(n);
  scores_.resize(n);
  bits_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    tokens_[i] = toks->strs[i].empty() ? "[EMPTY_" + std::to_string(i) + "]" : toks->strs[i];
    scores_[i] = scores ? static_cast<float>(scores->nums[i]) : 0.0f;
    uint16_t b = kAttrNormal;
    if (types) {
      switch (static_cast<int>(types->nums[i])) {
        case 1: b = kAttrNormal; break;
        case 2: b = kAttrUnknown; break;
        case 3: b = kAttrControl; break;
        case 4: b = kAttrUserDefined; break;
        case 5: b = kAttrUnused; break;
        case 6: b = kAttrByte; break;
        default: b = 0; break;  // undefined
      }
    }
    bits_[i] = b;
  }
  {
    size_t bytes = 0;
    for (const std::string& t : tokens_) bytes += t.size();
    strings_.reserve(n, bytes);
    for (size_t i = 0; i < n; ++i) {
      const int32_t id = strings_.intern(tokens_[i]);
      // duplicates make llama.cpp refuse the vocabulary
      if (id != static_cast<int32_t>(i))
        fail("GGUF_BAD_METADATA", "Expected unique vocabulary entries but '" + tokens_[i] + "' has ids " + std::to_string(id) + " and " + std::to_string(i));
    }
  }

  if (kind_ == Kind::Bpe) {
    const GgufValue* merges = g.find("tokenizer.ggml.merges");
    if (!merges) {
      if (pre_ != "kimi-k2") fail("TOKENIZER_MISSING", "Expected tokenizer.ggml.merges for a BPE vocabulary but received none");
    } else if (!merges->is_array() || merges->array_type != GgufValueType::STRING) {
      fail("GGUF_BAD_METADATA", "Expected an array of strings for tokenizer.ggml.merges");
    }
    auto intern = [&](std::string_view s) { return strings_.intern(s); };
    const size_t n_merges = merges ? merges->strs.size() : 0;
    merges_.reserve(n_merges);
    std::string joined;
    for (size_t r = 0; r < n_merges; ++r) {
      const std::string& m = merges->strs[r];
      // llama.cpp splits at the first space after position 0; no space: ("", "").
      const size_t sp = m.find(' ', 1);
      std::string_view first, second;
      if (sp != std::string::npos) {
        first = std::string_view(m).substr(0, sp);
        second = std::string_view(m).substr(sp + 1);
      }
      const int32_t l = intern(first), rr = intern(second);
      joined.assign(first.data(), first.size());
      joined.append(second.data(), second.size());
      merges_.insert(l, rr, static_cast<int32_t>(r), intern(joined));
    }
    std::string ch;
    for (int b = 0; b < 256; ++b) {
      ch.clear();
      if (byte_encode_) {
        unicode::append_utf8(ch, unicode::byte_to_gpt2_cp(static_cast<uint8_t>(b)));
      } else {
        ch.push_back(static_cast<char>(b));
      }
      byte_intern_[b] = strings_.find(ch.data(), ch.size());
    }
    pre_tok_ = std::make_unique<unicode::PreTokenizer>(spec.regexes);
  } else {
    for (int b = 0; b < 256; ++b) {
      static const char* hex = "0123456789ABCDEF";
      const char buf[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
      int32_t id = find_token(buf, 6);
      if (id < 0) {
        const char one = static_cast<char>(b);
        id = find_token(&one, 1);
      }
      spm_byte_token_[b] = id;
    }
  }
  finish_special_tokens(g);
}

// Special ids, add_bos/add_eos, EOT/EOM/FIM detection by text, the EOG set and the special-token
// cache, in llama.cpp's order (attribute overrides included).
void VocabTokenizer::finish_special_tokens(const GgufFile& g) {
  const size_t n = tokens_.size();
  struct Key {
    const char* key;
    int32_t* id;
  };
  const Key keys[] = {
      {"tokenizer.ggml.bos_token_id", &bos_},         {"tokenizer.ggml.eos_token_id", &eos_},
      {"tokenizer.ggml.eot_token_id", &eot_},         {"tokenizer.ggml.eom_token_id", &eom_},
      {"tokenizer.ggml.unknown_token_id", &unk_},     {"tokenizer.ggml.seperator_token_id", &sep_},
      {"tokenizer.ggml.padding_token_id", &pad_},     {"tokenizer.ggml.mask_token_id", &mask_},
      {"tokenizer.ggml.fim_pre_token_id", &fim_pre_}, {"tokenizer.ggml.fim_suf_token_id", &fim_suf_},
      {"tokenizer.ggml.fim_mid_token_id", &fim_mid_}, {"tokenizer.ggml.fim_pad_token_id", &fim_pad_},
      {"tokenizer.ggml.fim_rep_token_id", &fim_rep_}, {"tokenizer.ggml.fim_sep_token_id", &fim_sep_},
      {"tokenizer.ggml.prefix_token_id", &fim_pre_},  {"tokenizer.ggml.suffix_token_id", &fim_suf_},
      {"tokenizer.ggml.middle_token_id", &fim_mid_},
  };
  for (const Key& k : keys) *k.id = read_special_id(g, k.key, *k.id, n);

  add_bos_ = g.get_bool_or("tokenizer.ggml.add_bos_token", add_bos_);
  add_eos_ = g.get_bool_or("tokenizer.ggml.add_eos_token", add_eos_);
  if (add_bos_ && bos_ < 0)
    fail("GGUF_BAD_METADATA", "Expected tokenizer.ggml.bos_token_id since tokenizer.ggml.add_bos_token is true, but received none");
  if (add_eos_ && eos_ < 0)
    fail("GGUF_BAD_METADATA", "Expected tokenizer.ggml.eos_token_id since tokenizer.ggml.add_eos_token is true, but received none");

  // Text-based detection of EOT/EOM/FIM tokens. llama.cpp walks its
  // std::unordered_map<std::string, id> and takes the first hit per slot, so when a vocabulary
  // has two candidates for one slot (Llama 3: <|eot_id|> and <|end_of_text|>), the winner is the
  // one that map yields first. In that case only, the same map is built (same insertions, same
  // standard library) to reproduce the choice.
  const char* const kFullwidthEos = "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>";  // <｜end▁of▁sentence｜>
  struct Slot {
    int32_t* id;
    std::vector<const char*> texts;
    std::vector<int32_t> cands;
  };
  Slot slots[] = {
      {&eot_, {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", kFullwidthEos, "<end_of_utterance>"}, {}},
      {&eom_, {"<|eom_id|>"}, {}},
      {&fim_pre_, {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "begin\xEF\xBD\x9C>", "<PRE>", "\xE2\x96\x81<PRE>", "<|code_prefix|>", "<|prefix|>"}, {}},
      {&fim_suf_, {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81hole\xEF\xBD\x9C>", "<SUF>", "\xE2\x96\x81<SUF>", "<|code_suffix|>", "<|suffix|>"}, {}},
      {&fim_mid_, {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "end\xEF\xBD\x9C>", "<MID>", "\xE2\x96\x81<MID>", "<|code_middle|>", "<|middle|>"}, {}},
      {&fim_pad_, {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"}, {}},
      {&fim_rep_, {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"}, {}},
      {&fim_sep_, {"<|file_sep|>"}, {}},
  };
  const std::vector<const char*> eog_texts = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
                                              "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
                                              "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", kFullwidthEos, "[e~["};
  // Texts are unique in the vocabulary, so each listed text is at most one token.
  for (Slot& sl : slots) {
    if (*sl.id >= 0) continue;  // set by the metadata
    for (const char* t : sl.texts) {
      const int32_t id = find_token(t, std::strlen(t));
      if (id >= 0) sl.cands.push_back(id);
    }
  }
  bool ambiguous = false;
  for (const Slot& sl : slots) ambiguous |= sl.cands.size() > 1;
  if (ambiguous) {
    std::unordered_map<std::string, int32_t> token_to_id;
    for (size_t i = 0; i < n; ++i) token_to_id.emplace(tokens_[i], static_cast<int32_t>(i));
    for (const auto& t : token_to_id) {
      for (Slot& sl : slots) {
        if (*sl.id < 0 && std::find(sl.cands.begin(), sl.cands.end(), t.second) != sl.cands.end()) *sl.id = t.second;
      }
    }
  } else {
    for (Slot& sl : slots) {
      if (sl.cands.size() == 1) *sl.id = sl.cands[0];
    }
  }
  auto force_control = [&](int32_t id) { bits_[static_cast<size_t>(id)] |= kAttrControl; };
  for (const Slot& sl : slots) {
    if (!sl.cands.empty()) force_control(*sl.id);
  }
  // Control tokens whose text says "unused" are unused.
  for (size_t i = 0; i < n; ++i) {
    if ((bits_[i] & kAttrControl) && tokens_[i].find("unused") != std::string::npos) bits_[i] |= kAttrUnused;
  }

  std::vector<int32_t> eog;
  auto add_eog = [&](int32_t id) {
    if (id >= 0 && std::find(eog.begin(), eog.end(), id) == eog.end()) eog.push_back(id);
  };
  add_eog(fim_pad_);
  add_eog(fim_rep_);
  add_eog(fim_sep_);
  for (const char* t : eog_texts) {
    const int32_t id = find_token(t, std::strlen(t));
    if (id >= 0) {
      add_eog(id);
      force_control(id);
    }
  }
  // gpt-oss: these always render.
  for (const char* t : {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"}) {
    const int32_t id = find_token(t, std::strlen(t));
    if (id >= 0) bits_[static_cast<size_t>(id)] = kAttrUserDefined;
  }
  add_eog(eos_);
  add_eog(eot_);
  add_eog(eom_);
  {
    // o200k_harmony / solar-open: "<|end|>" is not end-of-generation there.
    bool has_return = false, has_call = false, has_flush = false;
    int32_t end_id = -1;
    for (int32_t id : eog) {
      const std::string& s = tokens_[static_cast<size_t>(id)];
      if (s == "<|return|>") has_return = true;
      else if (s == "<|call|>" || s == "<|calls|>") has_call = true;
      else if (s == "<|flush|>") has_flush = true;
      else if (s == "<|end|>") end_id = id;
    }
    if (end_id >= 0 && ((has_return && has_call) || (has_call && has_flush))) {
      eog.erase(std::find(eog.begin(), eog.end(), end_id));
      bits_[static_cast<size_t>(end_id)] = kAttrUserDefined;
    }
    // gemma4 / paddleocr: "</s>" is not end-of-generation when "<|tool_response>" is.
    bool has_tool_response = false;
    int32_t s_id = -1;
    for (int32_t id : eog) {
      const std::string& s = tokens_[static_cast<size_t>(id)];
      if (s == "<|tool_response>") has_tool_response = true;
      else if (s == "</s>") s_id = id;
    }
    if (has_tool_response && s_id >= 0) {
      eog.erase(std::find(eog.begin(), eog.end(), s_id));
      bits_[static_cast<size_t>(s_id)] = kAttrNormal;
    }
  }
  std::sort(eog.begin(), eog.end());
  eog_ = eog;

  // Special-token cache, sorted longest first with std::sort as llama.cpp (the order among equal
  // lengths is then the same as llama.cpp's with the same standard library).
  for (size_t i = 0; i < n; ++i) {
    if (bits_[i] & (kAttrControl | kAttrUserDefined | kAttrUnknown)) special_cache_.push_back(static_cast<int32_t>(i));
  }
  std::sort(special_cache_.begin(), special_cache_.end(),
            [&](int32_t a, int32_t b) { return tokens_[static_cast<size_t>(a)].size() > tokens_[static_cast<size_t>(b)].size(); });
  special_by_byte_.assign(256, {});
  for (size_t k = 0; k < special_cache_.size(); ++k) {
    special_by_byte_[static_cast<uint8_t>(tokens_[static_cast<size_t>(special_cache_[k])][0])].push_back(static_cast<uint32_t>(k));
  }
  if (kind_ == Kind::Spm) {
    spm_word_chunks_ = true;
    for (const std::string& t : tokens_) {
      for (size_t k = t.find(kSpaceMark, 1); k != std::string::npos; k = t.find(kSpaceMark, k + 1)) {
        if (k < 3 || t.compare(k - 3, 3, kSpaceMark) != 0) spm_word_chunks_ = false;
      }
    }
  }

  // Per-model attributes (after the cache, as llama.cpp): Phi-3 strips spaces after its specials.
  std::string name = g.get_string_or("general.name", "");
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::string& pre = pre_;
  const std::string arch = g.get_string_or("general.architecture", "");
  auto set_bit = [&](const char* text, uint16_t bit, bool on) {
    const int32_t id = find_token(text, std::strlen(text));
    if (id < 0) return;
    uint16_t& b = bits_[static_cast<size_t>(id)];
    b = on ? (b | bit) : (b & ~bit);
  };
  if (pre.find("jina-v2-de") != std::string::npos || pre.find("jina-v2-es") != std::string::npos ||
      pre.find("jina-v2-code") != std::string::npos || arch.find("nomic-bert-moe") != std::string::npos ||
      arch.find("jina-bert-v3") != std::string::npos) {
    set_bit("<mask>", kAttrLstrip, true);
  } else if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    for (int32_t id : special_cache_) bits_[static_cast<size_t>(id)] |= kAttrRstrip;
    set_bit("</s>", kAttrRstrip, true);
    for (const char* s : {"<unk>", "<s>", "<|endoftext|>"}) set_bit(s, kAttrRstrip, false);
  } else if (name.find("modern-bert") != std::string::npos) {
    set_bit("[MASK]", kAttrLstrip, true);
  }

  attrs_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const uint16_t b = bits_[i];
    attrs_[i] = (b & kAttrUserDefined) ? TokenAttr::UserDefined
                : (b & kAttrUnused)    ? TokenAttr::Unused
                : (b & kAttrControl)   ? TokenAttr::Control
                : (b & kAttrUnknown)   ? TokenAttr::Unknown
                : (b & kAttrByte)      ? TokenAttr::Byte
                : (b & kAttrNormal)    ? TokenAttr::Normal
                                       : TokenAttr::Undefined;
  }

  // Newline token, as llama.cpp determines it.
  if (kind_ == Kind::Spm) {
    nl_ = spm_byte_token_[size_t{'\n'}] >= 0 ? spm_byte_token_[size_t{'\n'}] : pad_;
  } else {
    const std::vector<int32_t> ids = tokenize("\n", false, false);
    nl_ = ids.empty() ? pad_ : ids[0];
  }
}

// ---- tokenize ------------------------------------------------------------------------------

// llama.cpp's tokenizer_st_partition: each special token (longest first) cuts every raw
// fragment at its leftmost non-overlapping occurrences. Control and unknown tokens only with
// parse_special; user-defined tokens always. LSTRIP/RSTRIP tokens eat adjacent whitespace.
void VocabTokenizer::partition(const std::string& text, std::vector<Fragment>& frags, bool parse_special) const {
  // One pass over the text finds which special tokens occur at all (a token absent from the
  // text is absent from every fragment); only those run the per-token splitting below.
  std::vector<uint8_t> occurs(special_cache_.size(), 0);
  size_t n_occurring = 0;
  for (size_t p = 0; p < text.size(); ++p) {
    for (uint32_t k : special_by_byte_[static_cast<uint8_t>(text[p])]) {
      if (occurs[k]) continue;
      const int32_t id = special_cache_[k];
      if (!parse_special && (bits_[static_cast<size_t>(id)] & (kAttrControl | kAttrUnknown))) continue;
      const std::string& tok = tokens_[static_cast<size_t>(id)];
      if (text.compare(p, tok.size(), tok) == 0) {
        occurs[k] = 1;
        ++n_occurring;
      }
    }
  }
  if (n_occurring == 0) return;
  std::vector<Fragment> next;
  for (size_t k = 0; k < special_cache_.size(); ++k) {
    if (!occurs[k]) continue;
    const int32_t id = special_cache_[k];
    const uint16_t b = bits_[static_cast<size_t>(id)];
    const std::string& tok = tokens_[static_cast<size_t>(id)];
    next.clear();
    for (const Fragment& f : frags) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      size_t off = f.off, len = f.len;
      while (true) {
        const size_t match = std::string_view(text.data(), off + len).find(tok, off);
        if (match == std::string_view::npos) {
          next.push_back({-1, off, len});
          break;
        }
        if (match > off) {
          size_t left = match - off;
          if (b & kAttrLstrip) {
            while (left > 0 && is_c_space(text[off + left - 1])) --left;
          }
          if (left > 0) next.push_back({-1, off, left});
        }
        next.push_back({id, 0, 0});
        if (match + tok.size() < off + len) {
          size_t r_off = match + tok.size();
          size_t r_len = len - ((match - off) + tok.size());
          if (b & kAttrRstrip) {
            while (r_len > 0 && is_c_space(text[r_off])) {
              ++r_off;
              --r_len;
            }
          }
          if (r_len == 0) break;
          off = r_off;
          len = r_len;
        } else {
          break;
        }
      }
    }
    frags.swap(next);
  }
}

std::vector<int32_t> VocabTokenizer::tokenize(const std::string& text, bool add_special, bool parse_special) const {
  if (kind_ == Kind::None) fail("TOKENIZER_MISSING", "Expected a model with a vocabulary but this one has tokenizer.ggml.model '" + model_ + "'");
  std::vector<int32_t> out;
  std::vector<Fragment> frags;
  if (!text.empty()) {
    frags.push_back({-1, 0, text.size()});
    partition(text, frags, parse_special);
  }
  if (kind_ == Kind::Spm) {
    if (add_special && add_bos_) out.push_back(bos_);
    bool prev_special = true;  // the first text fragment gets the space prefix
    std::string piece;
    for (const Fragment& f : frags) {
      if (f.token >= 0) {
        out.push_back(f.token);
        prev_special = true;
        continue;
      }
      // SentencePiece input: optional leading space, every ' ' as U+2581.
      piece.clear();
      piece.reserve(f.len * 3 + 3);
      if (add_space_prefix_ && prev_special) piece.append(kSpaceMark);
      for (size_t i = 0; i < f.len; ++i) {
        const char c = text[f.off + i];
        if (c == ' ') {
          piece.append(kSpaceMark);
        } else {
          piece.push_back(c);
        }
      }
      tokenize_spm(piece, out);
      prev_special = false;
    }
    if (add_special && add_eos_) out.push_back(eos_);
  } else {
    if (add_special && add_bos_) out.push_back(bos_);
    std::string escaped;
    for (const Fragment& f : frags) {
      if (f.token >= 0) {
        out.push_back(f.token);
        continue;
      }
      if (escape_whitespaces_) {
        escaped.clear();
        for (size_t i = 0; i < f.len; ++i) {
          const char c = text[f.off + i];
          if (c == ' ') {
            escaped.append(kSpaceMark);
          } else {
            escaped.push_back(c);
          }
        }
        tokenize_bpe(escaped.data(), escaped.size(), out);
      } else {
        tokenize_bpe(text.data() + f.off, f.len, out);
      }
    }
    if (add_special && add_eos_) out.push_back(eos_);
  }
  return out;
}

// SentencePiece BPE over the whole fragment, as llama.cpp's llm_tokenizer_spm_session: symbols
// are UTF-8 characters (lengths from lead bytes, unvalidated); the adjacent pair whose
// concatenation is the highest-scoring vocabulary entry merges first (leftmost on ties);
// leftovers become byte tokens.
void VocabTokenizer::tokenize_spm(const std::string& text, std::vector<int32_t>& out) const {
  const size_t n = text.size();
  if (n == 0) return;
  SpmScratch scratch;
  if (!spm_word_chunks_) {
    spm_merge(text, 0, n, scratch, out);
    return;
  }
  // Cut before each U+2581 symbol that follows a different symbol: no merge can cross there
  // (see spm_word_chunks_), and the merge order inside each piece is the global order restricted
  // to it, so the result is the same as merging the whole text at once.
  // Pieces repeat (words): their ids are remembered for the rest of this call (bounded).
  constexpr size_t kMaxCached = 1 << 16, kMaxCachedBytes = 48;
  StringTable cache;                                   // cached pieces, ids 0, 1, ...
  std::vector<std::pair<uint32_t, uint32_t>> cache_at;  // per cached piece: (offset, count) in cached_ids
  std::vector<int32_t> cached_ids;
  auto piece = [&](size_t begin, size_t end) {
    const std::string_view key(text.data() + begin, end - begin);
    const bool cacheable = key.size() <= kMaxCachedBytes;
    if (cacheable) {
      const int32_t hit = cache.find(key);
      if (hit >= 0) {
        const auto& at_n = cache_at[static_cast<size_t>(hit)];
        out.insert(out.end(), cached_ids.begin() + at_n.first, cached_ids.begin() + at_n.first + at_n.second);
        return;
      }
    }
    const size_t before = out.size();
    spm_merge(text, begin, end, scratch, out);
    if (cacheable && cache.size() < kMaxCached) {
      cache.intern(key);
      cache_at.emplace_back(static_cast<uint32_t>(cached_ids.size()), static_cast<uint32_t>(out.size() - before));
      cached_ids.insert(cached_ids.end(), out.begin() + static_cast<long>(before), out.end());
    }
  };
  size_t chunk = 0;
  bool prev_space = false;
  for (size_t off = 0; off < n;) {
    const size_t len = std::min(unicode::utf8_len(static_cast<uint8_t>(text[off])), n - off);
    const bool space = len == 3 && text.compare(off, 3, kSpaceMark) == 0;
    if (space && !prev_space && off > chunk) {
      piece(chunk, off);
      chunk = off;
    }
    prev_space = space;
    off += len;
  }
  piece(chunk, n);
}

void VocabTokenizer::spm_merge(const std::string& text, size_t begin, size_t end, SpmScratch& scratch, std::vector<int32_t>& out) const {
  std::vector<Symbol>& sym = scratch.sym;
  Heap<SpmBigram, SpmBefore>& heap = scratch.heap;
  sym.clear();
  heap.clear();
  for (size_t off = begin; off < end;) {
    const size_t len = std::min(unicode::utf8_len(static_cast<uint8_t>(text[off])), end - off);
    const int32_t idx = static_cast<int32_t>(sym.size());
    sym.push_back({idx - 1, off + len == end ? -1 : idx + 1, static_cast<uint32_t>(off), static_cast<uint32_t>(len), -1});
    off += len;
  }
  if (sym.empty()) return;
  auto try_add = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const uint32_t size = sym[static_cast<size_t>(l)].n + sym[static_cast<size_t>(r)].n;
    const int32_t id = find_token(text.data() + sym[static_cast<size_t>(l)].off, size);
    if (id < 0) return;
    heap.push({scores_[static_cast<size_t>(id)], l, r, size});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(sym.size()); ++i) try_add(i - 1, i);
  while (!heap.empty()) {
    const SpmBigram bg = heap.pop();
    Symbol& left = sym[static_cast<size_t>(bg.left)];
    Symbol& right = sym[static_cast<size_t>(bg.right)];
    if (left.n == 0 || right.n == 0 || left.n + right.n != bg.size) continue;  // stale
    left.n += right.n;
    right.n = 0;
    left.next = right.next;
    if (right.next >= 0) sym[static_cast<size_t>(right.next)].prev = bg.left;
    try_add(left.prev, bg.left);
    try_add(bg.left, left.next);
  }
  for (int32_t i = 0; i != -1; i = sym[static_cast<size_t>(i)].next) {
    const Symbol& s = sym[static_cast<size_t>(i)];
    const int32_t id = find_token(text.data() + s.off, s.n);
    if (id >= 0) {
      out.push_back(id);
      continue;
    }
    // Never merged, not a token: byte fallback. (llama.cpp throws if a byte has no token at
    // all; halfbyte emits <unk> if there is one and otherwise drops the byte.)
    for (uint32_t k = 0; k < s.n; ++k) {
      const int32_t bt = spm_byte_token_[static_cast<uint8_t>(text[s.off + k])];
      if (bt >= 0) {
        out.push_back(bt);
      } else if (unk_ >= 0) {
        out.push_back(unk_);
      }
    }
  }
}

// Byte-level BPE of one raw fragment, as llama.cpp's llm_tokenizer_bpe_session: pre-tokenize
// into words, then per word merge the lowest-ranked adjacent pair first (leftmost on ties).
void VocabTokenizer::tokenize_bpe(const char* text, size_t n, std::vector<int32_t>& out) const {
  if (n == 0) return;
  std::vector<uint32_t> cpts;
  unicode::decode_utf8_all(text, n, cpts);  // invalid UTF-8 bytes become U+FFFD here
  std::vector<uint32_t> lengths;
  pre_tok_->split(cpts.data(), cpts.size(), lengths);

  // Per word: the bytes of its UTF-8 and the encoded string (GPT-2 characters, or raw).
  std::string enc;
  std::vector<uint32_t> word_bytes;  // one entry per symbol: the byte (byte_encode) or char length
  std::string utf8;
  BpeScratch scratch;
  // Words repeat a lot in natural text: remember each short word's ids for the rest of this
  // call (bounded, and freed when the call returns).
  constexpr size_t kMaxCachedWords = 1 << 16, kMaxCachedWordBytes = 48;
  StringTable cache;                                   // cached words, ids 0, 1, ...
  std::vector<std::pair<uint32_t, uint32_t>> cache_at;  // per cached word: (offset, count) in cached_ids
  std::vector<int32_t> cached_ids;
  size_t at = 0;
  for (uint32_t len : lengths) {
    utf8.clear();
    for (size_t k = at; k < at + len; ++k) unicode::append_utf8(utf8, cpts[k]);
    at += len;
    if (utf8.empty()) continue;
    const bool cacheable = utf8.size() <= kMaxCachedWordBytes;
    if (cacheable) {
      const int32_t hit = cache.find(utf8.data(), utf8.size());
      if (hit >= 0) {
        const auto& at_n = cache_at[static_cast<size_t>(hit)];
        out.insert(out.end(), cached_ids.begin() + at_n.first, cached_ids.begin() + at_n.first + at_n.second);
        continue;
      }
    }
    enc.clear();
    word_bytes.clear();
    if (byte_encode_) {
      for (unsigned char b : utf8) {
        unicode::append_utf8(enc, unicode::byte_to_gpt2_cp(b));
        word_bytes.push_back(b);
      }
    } else {
      enc = utf8;
      for (size_t off = 0; off < utf8.size();) {
        const size_t l = std::min(unicode::utf8_len(static_cast<uint8_t>(utf8[off])), utf8.size() - off);
        word_bytes.push_back(static_cast<uint32_t>(l));
        off += l;
      }
    }
    const size_t before = out.size();
    bpe_word(enc, word_bytes, scratch, out);
    if (cacheable && cache.size() < kMaxCachedWords) {
      cache.intern(utf8.data(), utf8.size());
      cache_at.emplace_back(static_cast<uint32_t>(cached_ids.size()), static_cast<uint32_t>(out.size() - before));
      cached_ids.insert(cached_ids.end(), out.begin() + static_cast<long>(before), out.end());
    }
  }
}

void VocabTokenizer::bpe_word(const std::string& enc, const std::vector<uint32_t>& sym_info, BpeScratch& scratch,
                              std::vector<int32_t>& out) const {
  if (ignore_merges_) {
    const int32_t id = find_token(enc);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  // Symbols: one per GPT-2 character (one input byte), or per UTF-8 character (raw mode).
  std::vector<Symbol>& sym = scratch.sym;
  Heap<BpeBigram, BpeBefore>& heap = scratch.heap;
  sym.clear();
  heap.clear();
  uint32_t off = 0;
  for (size_t k = 0; k < sym_info.size(); ++k) {
    uint32_t bytes;
    int32_t intern;
    if (byte_encode_) {
      bytes = static_cast<uint32_t>(unicode::utf8_encoded_len(unicode::byte_to_gpt2_cp(static_cast<uint8_t>(sym_info[k]))));
      intern = byte_intern_[sym_info[k]];
    } else {
      bytes = sym_info[k];
      intern = strings_.find(enc.data() + off, bytes);
    }
    const int32_t idx = static_cast<int32_t>(k);
    sym.push_back({idx - 1, k + 1 == sym_info.size() ? -1 : idx + 1, off, bytes, intern});
    off += bytes;
  }
  auto add = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const Symbol& a = sym[static_cast<size_t>(l)];
    const Symbol& b = sym[static_cast<size_t>(r)];
    if (a.intern < 0 || b.intern < 0) return;
    const MergeTable::Entry* e = merges_.find(a.intern, b.intern);
    if (!e) return;
    heap.push({e->rank, l, r, a.n + b.n, e->result});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(sym.size()); ++i) add(i - 1, i);
  while (!heap.empty()) {
    const BpeBigram bg = heap.pop();
    Symbol& left = sym[static_cast<size_t>(bg.left)];
    Symbol& right = sym[static_cast<size_t>(bg.right)];
    // Stale if either side changed since the pair was queued (llama.cpp compares the texts;
    // a side can only grow or vanish, so comparing sizes is equivalent).
    if (left.n == 0 || right.n == 0 || left.n + right.n != bg.size) continue;
    left.n += right.n;
    left.intern = bg.result;
    right.n = 0;
    left.next = right.next;
    if (right.next >= 0) sym[static_cast<size_t>(right.next)].prev = bg.left;
    add(left.prev, bg.left);
    add(bg.left, left.next);
  }
  const int32_t nv = n_vocab();
  for (int32_t i = 0; i != -1 && !sym.empty(); i = sym[static_cast<size_t>(i)].next) {
    const Symbol& s = sym[static_cast<size_t>(i)];
    if (s.intern >= 0 && s.intern < nv) {
      out.push_back(s.intern);  // intern ids of vocabulary strings are the token ids
      continue;
    }
    // Not a token: each byte of the encoded text as a one-byte token (byte_encode), or <0xXX>.
    for (uint32_t k = 0; k < s.n; ++k) {
      const uint8_t c = static_cast<uint8_t>(enc[s.off + k]);
      int32_t id;
      if (byte_encode_) {
        const char one = static_cast<char>(c);
        id = find_token(&one, 1);
      } else {
        static const char* hex = "0123456789ABCDEF";
        const char buf[6] = {'<', '0', 'x', hex[c >> 4], hex[c & 15], '>'};
        id = find_token(buf, 6);
      }
      if (id >= 0) out.push_back(id);
    }
  }
}

// ---- pieces --------------------------------------------------------------------------------

std::string VocabTokenizer::token_to_piece(int32_t id, bool render_special) const {
  check_id(id);
  const uint16_t b = bits_[static_cast<size_t>(id)];
  if (!render_special && (b & (kAttrUnknown | kAttrControl))) return std::string();
  const std::string& text = tokens_[static_cast<size_t>(id)];
  if (kind_ == Kind::None) return std::string();
  if (b & (kAttrUnknown | kAttrControl | kAttrUserDefined)) return text;
  auto byte_of = [&]() {
    // "<0xXX>": llama.cpp parses text[3..5) as hex.
    std::string piece;
    if (text.size() >= 5) {
      piece.push_back(static_cast<char>(std::strtol(text.substr(3, 2).c_str(), nullptr, 16)));
    } else {
      piece.push_back('\0');
    }
    return piece;
  };
  if (kind_ == Kind::Spm || escape_whitespaces_) {
    if (b & kAttrNormal) {
      std::string piece;
      piece.reserve(text.size());
      for (size_t i = 0; i < text.size(); ++i) {
        if (text.compare(i, 3, kSpaceMark) == 0) {
          piece.push_back(' ');
          i += 2;
        } else {
          piece.push_back(text[i]);
        }
      }
      return piece;
    }
    if (b & kAttrByte) return byte_of();
    return std::string();
  }
  if (b & kAttrNormal) {
    // GPT-2 characters back to bytes; llama.cpp writes unmappable characters as a marker.
    std::string piece;
    size_t pos = 0;
    while (pos < text.size()) {
      const size_t start = pos;
      const uint32_t cp = unicode::decode_utf8(text.data(), text.size(), &pos);
      const int byte = unicode::gpt2_cp_to_byte(cp);
      if (byte >= 0) {
        piece.push_back(static_cast<char>(byte));
      } else {
        std::string utf8;
        unicode::append_utf8(utf8, cp);
        (void)start;
        piece += "[UNK_BYTE_0x";
        static const char* hex = "0123456789abcdef";
        for (unsigned char c : utf8) {
          piece.push_back(hex[c >> 4]);
          piece.push_back(hex[c & 15]);
        }
        piece += text + "]";
      }
    }
    return piece;
  }
  if (b & kAttrByte) return byte_of();
  return std::string();
}

// llama.cpp's detokenize: pieces concatenated; with add_space_prefix (SentencePiece) the first
// piece loses one leading space; if the text starts with BOS the strip applies to the piece after
// it when BOS renders as nothing (render_special false), as llama_detokenize with
// remove_special=true; with render_special the BOS text stays and the strip applies to it, as
// remove_special=false. BPE vocabularies with clean_spaces then undo tokenization spaces
// (" ." -> ".", " 's" -> "'s", ...).
std::string VocabTokenizer::detokenize(const std::vector<int32_t>& ids, bool render_special) const {
  std::string text;
  bool remove_space = add_space_prefix_;
  size_t i = 0;
  if (add_bos_ && !ids.empty() && ids[0] == bos_ && token_to_piece(ids[0], render_special).empty()) i = 1;
  for (; i < ids.size(); ++i) {
    std::string piece = token_to_piece(ids[i], render_special);
    size_t skip = 0;
    if (remove_space && !piece.empty() && piece[0] == ' ') skip = 1;
    text.append(piece, skip, std::string::npos);
    remove_space = false;
  }
  if (!clean_spaces_) return text;
  // Three in-place passes over the bytes, with llama.cpp's exact index arithmetic (pass two
  // overwrites the space after " ' " with NUL, which the next step then sees).
  char* t = &text[0];
  int64_t total = static_cast<int64_t>(text.size());
  {  // " ?", " !", " .", " ," -> drop the space
    const int64_t total1 = total;
    total = total ? 1 : 0;
    for (int64_t k = 1; k < total1; ++k) {
      const char x = t[k];
      if (t[k - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) --total;
      t[total++] = x;
    }
  }
  {  // " ' " -> "'"
    const int64_t total2 = total;
    total = total ? 1 : 0;
    for (int64_t k = 1; k < total2; ++k) {
      const char x = t[k];
      if (x == '\'' && k + 1 < total2 && t[k - 1] == ' ' && t[k + 1] == ' ') {
        --total;
        t[++k] = '\0';
      }
      t[total++] = x;
    }
  }
  {  // " 's", " 'm", " 're", " 've" -> drop the space (" 't", " 'd", " 'll" keep it)
    const int64_t total3 = total;
    total = total ? 1 : 0;
    for (int64_t k = 1; k < total3; ++k) {
      const char x = t[k];
      if (t[k - 1] == ' ' && x == '\'' && k + 1 < total3) {
        const char x1 = t[k + 1];
        if (x1 == 't' || x1 == 'd') {
        } else if (x1 == 's' || x1 == 'm') {
          --total;
        } else if (k + 2 < total3) {
          const char x2 = t[k + 2];
          if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) --total;
        }
      }
      t[total++] = x;
    }
  }
  text.resize(static_cast<size_t>(total));
  return text;
}

}  // namespace

std::vector<std::string> bpe_pre_regexes(const std::string& pre) {
  PreSpec spec;
  if (!lookup_pre(pre, spec)) return {};
  return spec.regexes;
}

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const GgufFile& gguf) { return std::make_unique<VocabTokenizer>(gguf); }

bool Tokenizer::is_eog(int32_t id) const { return std::binary_search(eog_.begin(), eog_.end(), id); }

TokenAttr Tokenizer::attr(int32_t id) const {
  if (id < 0 || id >= n_vocab())
    fail("TOKEN_OUT_OF_RANGE", "Expected a token id in [0, " + std::to_string(n_vocab()) + ") but received " + std::to_string(id));
  return attrs_[static_cast<size_t>(id)];
}

const std::string& Tokenizer::token_text(int32_t id) const {
  if (id < 0 || id >= n_vocab())
    fail("TOKEN_OUT_OF_RANGE", "Expected a token id in [0, " + std::to_string(n_vocab()) + ") but received " + std::to_string(id));
  return tokens_[static_cast<size_t>(id)];
}

}  // namespace hb
