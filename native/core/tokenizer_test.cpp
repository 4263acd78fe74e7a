// Tokenizer tests: llama.cpp's own vocabulary test cases (ids must match exactly), the
// stories260K reference prompts, special tokens, BOS/EOS, EOG, pieces, bad input, and the
// pre-tokenizer regex engine checked against std::regex driven the way llama.cpp drives it.
#include <chrono>
#include <codecvt>
#include <cstring>
#include <fstream>
#include <locale>
#include <random>
#include <regex>
#include <set>
#include <sstream>

#include "../tests/check.h"
#include "gguf.h"
#include "tokenizer.h"
#include "unicode.h"

namespace {

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string tok_dir() { return hbtest::fixtures_dir() + "/tokenizer/"; }

struct Loaded {
  std::unique_ptr<hb::GgufFile> gguf;
  std::unique_ptr<hb::Tokenizer> tok;
};

Loaded load_vocab(const std::string& path) {
  Loaded l;
  l.gguf = hb::GgufFile::open(path, /*vocab_only=*/true);
  l.tok = hb::Tokenizer::from_gguf(*l.gguf);
  return l;
}

std::string ids_str(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += " " + std::to_string(id);
  return s;
}

bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const size_t before = i;
    const uint32_t cp = hb::unicode::decode_utf8(s.data(), s.size(), &i);
    if (cp == hb::unicode::kReplacementChar && !(i - before == 3 && s.compare(before, 3, "\xEF\xBF\xBD") == 0)) return false;
  }
  return true;
}

// Runs every case of llama.cpp's ggml-vocab-<name>.gguf.inp/.out (tokenize with
// add_special=false, parse_special=false) and checks detokenize round trips where llama.cpp's
// clean-up of tokenization spaces cannot apply.
void check_vocab_fixture(const std::string& name) {
  const std::string base = tok_dir() + "ggml-vocab-" + name + ".gguf";
  Loaded v = load_vocab(base);
  std::string inp = read_file(base + ".inp");
  const std::string out = read_file(base + ".out");
  std::vector<std::string> cases;
  const std::string sep = "\n__ggml_vocab_test__\n";
  for (size_t p; (p = inp.find(sep)) != std::string::npos;) {
    cases.push_back(inp.substr(0, p));
    inp.erase(0, p + sep.size());
  }
  std::vector<std::string> lines;
  std::stringstream ls(out);
  for (std::string l; std::getline(ls, l);) lines.push_back(l);
  CHECK(cases.size() >= 40);
  CHECK_EQ(cases.size(), lines.size());
  for (size_t i = 0; i < cases.size() && i < lines.size(); ++i) {
    const std::vector<int32_t> ids = v.tok->tokenize(cases[i], false, false);
    const std::string got = ids_str(ids);
    if (got != lines[i]) {
      hbtest::report(__FILE__, __LINE__, name + " case " + std::to_string(i) + " [" + cases[i] + "]: want" + lines[i] + " got" + got);
    }
    const bool cleanable = cases[i].find(" ?") != std::string::npos || cases[i].find(" !") != std::string::npos ||
                           cases[i].find(" .") != std::string::npos || cases[i].find(" ,") != std::string::npos ||
                           cases[i].find(" '") != std::string::npos;
    if (valid_utf8(cases[i]) && !cleanable) {
      const std::string back = v.tok->detokenize(ids, false);
      if (back != cases[i]) hbtest::report(__FILE__, __LINE__, name + " round trip of case " + std::to_string(i) + " gave [" + back + "]");
    }
  }
}

// ---- a tiny GGUF writer for synthetic vocabularies -------------------------------------------

struct GgufBuilder {
  std::vector<uint8_t> b;
  uint64_t n_kv = 0;
  std::vector<uint8_t> body;
  template <typename T>
  void put(std::vector<uint8_t>& v, T x) {
    uint8_t tmp[sizeof(T)];
    std::memcpy(tmp, &x, sizeof(T));
    v.insert(v.end(), tmp, tmp + sizeof(T));
  }
  void str(const std::string& s) {
    put<uint64_t>(body, s.size());
    body.insert(body.end(), s.begin(), s.end());
  }
  void kv_str(const std::string& k, const std::string& v) {
    ++n_kv, str(k), put<uint32_t>(body, 8), str(v);
  }
  void kv_u32(const std::string& k, uint32_t v) { ++n_kv, str(k), put<uint32_t>(body, 4), put<uint32_t>(body, v); }
  void kv_bool(const std::string& k, bool v) { ++n_kv, str(k), put<uint32_t>(body, 7), put<uint8_t>(body, v ? 1 : 0); }
  void kv_strs(const std::string& k, const std::vector<std::string>& v) {
    ++n_kv, str(k), put<uint32_t>(body, 9), put<uint32_t>(body, 8), put<uint64_t>(body, v.size());
    for (const auto& s : v) str(s);
  }
  void kv_f32s(const std::string& k, const std::vector<float>& v) {
    ++n_kv, str(k), put<uint32_t>(body, 9), put<uint32_t>(body, 6), put<uint64_t>(body, v.size());
    for (float f : v) put<float>(body, f);
  }
  void kv_i32s(const std::string& k, const std::vector<int32_t>& v) {
    ++n_kv, str(k), put<uint32_t>(body, 9), put<uint32_t>(body, 5), put<uint64_t>(body, v.size());
    for (int32_t x : v) put<int32_t>(body, x);
  }
  std::unique_ptr<hb::GgufFile> parse() {
    b.clear();
    for (char c : {'G', 'G', 'U', 'F'}) b.push_back(static_cast<uint8_t>(c));
    put<uint32_t>(b, 3);
    put<uint64_t>(b, 0);
    put<uint64_t>(b, n_kv);
    b.insert(b.end(), body.begin(), body.end());
    while (b.size() % 32) b.push_back(0);
    return hb::GgufFile::parse(b.data(), b.size(), true);
  }
};

// GPT-2 byte-level spelling of a UTF-8 string.
std::string gpt2(const std::string& s) {
  std::string out;
  for (unsigned char c : s) hb::unicode::append_utf8(out, hb::unicode::byte_to_gpt2_cp(c));
  return out;
}

// ---- llama.cpp's std::regex split, as an oracle for the regex engine -------------------------

template <typename C>
std::vector<uint32_t> stl_split(const std::basic_string<C>& text, const std::basic_string<C>& re) {
  std::basic_regex<C> expr(re, std::regex_constants::optimize | std::regex_constants::nosubs);
  std::vector<uint32_t> out;
  if (text.empty()) return out;
  std::regex_iterator<const C*> it(text.data(), text.data() + text.size(), expr), end;
  int64_t last = 0;
  for (; it != end; ++it) {
    const auto m = *it;
    if (m.position() > last) out.push_back(static_cast<uint32_t>(m.position() - last));
    out.push_back(static_cast<uint32_t>(m.length()));
    last = m.position() + m.length();
  }
  if (last < static_cast<int64_t>(text.size())) out.push_back(static_cast<uint32_t>(text.size() - last));
  return out;
}

const char* const kOracleCategories[] = {"\\p{N}", "\\p{L}", "\\p{P}", "\\p{M}", "\\p{S}", "\\p{Lu}", "\\p{Ll}", "\\p{Lt}", "\\p{Lm}", "\\p{Lo}"};

// Regexes with Unicode categories run on text collapsed to one byte per class; the rest run on
// the code points themselves (std::wregex).
bool oracle_collapses(const std::string& re) {
  for (const char* c : kOracleCategories)
    if (re.find(c) != std::string::npos) return true;
  return false;
}

std::vector<uint32_t> oracle_split(const std::string& re, const std::vector<uint32_t>& cp) {
  const char* const* cats = kOracleCategories;
  static const char* ascii[] = {"0-9", "A-Za-z", "!-#%-*,-/:-;?-@\\[-\\]_\\{\\}", "", "\\$\\+<->^`\\|", "A-Za-z", "A-Za-z", "A-Za-z", "A-Za-z", "A-Za-z"};
  static const char bytes[] = {'\xD1', '\xD2', '\xD3', '\xD4', '\xD5', '\xD2', '\xD2', '\xD2', '\xD2', '\xD2'};
  if (!oracle_collapses(re)) {
    std::wstring_convert<std::codecvt_utf8<wchar_t>> conv;
    std::wstring w(cp.begin(), cp.end());
    for (auto& c : w) {
      if (static_cast<uint32_t>(c) > 0x7F && (hb::unicode::flags(static_cast<uint32_t>(c)) & hb::unicode::kWhitespace)) c = 0x0B;
    }
    return stl_split<wchar_t>(w, conv.from_bytes(re));
  }
  std::string t(cp.size(), 0);
  for (size_t i = 0; i < cp.size(); ++i) {
    if (cp[i] < 128) {
      t[i] = static_cast<char>(cp[i]);
      continue;
    }
    const uint16_t f = hb::unicode::flags(cp[i]);
    char c = '\xD0';
    if (f & hb::unicode::kWhitespace) c = 0x0B;
    else if (f & hb::unicode::kNumber) c = '\xD1';
    else if (f & hb::unicode::kLetter) c = '\xD2';
    else if (f & hb::unicode::kPunctuation) c = '\xD3';
    else if (f & hb::unicode::kMark) c = '\xD4';
    else if (f & hb::unicode::kSymbol) c = '\xD5';
    t[i] = c;
  }
  std::string o;
  bool inside = false;
  for (size_t i = 0; i < re.size(); ++i) {
    if (re[i] == '[' && (i == 0 || re[i - 1] != '\\')) {
      o += '[', inside = true;
      continue;
    }
    if (inside && re[i] == ']' && re[i - 1] != '\\') {
      o += ']', inside = false;
      continue;
    }
    bool done = false;
    for (int k = 0; k < 10 && !done; ++k) {
      const size_t len = std::strlen(cats[k]);
      if (re.compare(i, len, cats[k]) == 0) {
        if (!inside) o += '[';
        o += bytes[k];
        o += ascii[k];
        if (!inside) o += ']';
        i += len - 1;
        done = true;
      }
    }
    if (!done) o += re[i];
  }
  return stl_split<char>(t, o);
}

std::vector<std::string> all_pre_regexes() {
  std::set<std::string> res;
  for (const char* p : {"default", "llama-bpe", "deepseek-llm", "deepseek-coder", "deepseek-v3", "spark2_5", "youtu", "falcon",
                        "starcoder", "gpt-2", "qwen2", "qwen35", "poro-chat", "viking", "tekken", "chameleon", "gpt-4o",
                        "granite-embed-multi-97m", "tiny_aya", "superbpe", "bailingmoe", "seed-coder", "ufakzeka", "afmoe", "laguna",
                        "exaone-moe", "minicpm5", "jais-2", "sarvam-moe"}) {
    for (const auto& r : hb::bpe_pre_regexes(p)) res.insert(r);
  }
  return std::vector<std::string>(res.begin(), res.end());
}

std::vector<uint32_t> random_text(std::mt19937& rng, size_t max_len) {
  static const std::vector<uint32_t> pool = {
      'a', 'b', 'Z', 's', 't', 'r', 'e', 'v', 'm', 'l', 'd', 'S', 'T', 'R', 'E', '\'', '\'', '0', '1', '5', '9', ' ', ' ', ' ', '\n',
      '\r', '\t', '.', ',', '!', '?', '-', '$', '+', '~', '`', '|', '<', '>', '(', ')', '[', ']', '/', '_', '{', '}', '#', '@', '&', '*', ':',
      0xE9, 0x4E2D, 0x3042, 0x30A2, 0xAC00, 0x0301, 0x0663, 0xFF11, 0xA0, 0x3000, 0x2000, 0x85, 0x20AC, 0x2026, 0x3002, 0xFF0C,
      0x0378, 0x200B, 0x1F600, 0x0410, 0x03A9, 0x1F7D, 0x1C, 0x0B, 0x0C, 0x0964, 0xFFFD, 0x0E01, 0x2126};
  std::vector<uint32_t> cp(rng() % (max_len + 1));
  for (size_t i = 0; i < cp.size(); ++i) {
    cp[i] = pool[rng() % pool.size()];
    if (i && rng() % 4 == 0) cp[i] = cp[i - 1];  // runs
  }
  return cp;
}

}  // namespace

// ---- Unicode basics ----------------------------------------------------------------------------

TEST(tok_unicode_flags) {
  using namespace hb::unicode;
  CHECK(flags('a') & kLetter);
  CHECK(flags('7') & kNumber);
  CHECK(flags(' ') & kWhitespace);
  CHECK(flags(0x85) & kWhitespace);
  CHECK(!(flags(0x1C) & kWhitespace));  // not White_Space (unlike Python's str.isspace)
  CHECK(flags(0x3000) & kWhitespace);
  CHECK(flags(0x4E2D) & kLetter);
  CHECK(flags(0x0301) & kMark);
  CHECK(flags(0x0663) & kNumber);
  CHECK(flags('~') & kSymbol);
  CHECK(flags('!') & kPunctuation);
  CHECK(flags(0x0378) & kUndefined);
  CHECK(flags(0x200B) & kControl);  // Cf
  CHECK(flags(0xD800) & kControl);  // Cs
  CHECK(flags(0x2EBF0) & kLetter);  // CJK extension I: Unicode 15.1
  CHECK(flags(0x110000) == kUndefined);
}

TEST(tok_utf8_decode_matches_llama_cpp) {
  using namespace hb::unicode;
  // Invalid bytes become U+FFFD one byte at a time; overlong forms are accepted as llama.cpp does.
  const std::string s = "a\xC3\xA9\xFF\xE2\x82\xC0\x80\xC1\xBF\xF0\x9F\x98\x80";
  std::vector<uint32_t> cp;
  decode_utf8_all(s.data(), s.size(), cp);
  // a | C3 A9 | FF | E2 (82 C0: not a sequence) | 82 | C0 80 (overlong NUL) | C1 BF | F0 9F 98 80
  const std::vector<uint32_t> want = {'a', 0xE9, 0xFFFD, 0xFFFD, 0xFFFD, 0x0, 0x7F, 0x1F600};
  CHECK(cp == want);
  for (int b = 0; b < 256; ++b) CHECK_EQ(gpt2_cp_to_byte(byte_to_gpt2_cp(static_cast<uint8_t>(b))), b);
  CHECK_EQ(byte_to_gpt2_cp(' '), 0x120u);   // 'Ġ'
  CHECK_EQ(byte_to_gpt2_cp('\n'), 0x10Au);  // 'Ċ'
  CHECK_EQ(byte_to_gpt2_cp('a'), static_cast<uint32_t>('a'));
}

// The generic engine against std::regex on llama.cpp's collapsed/wide texts, for every regex of
// every pre-tokenizer; and the fast splitters (what PreTokenizer runs) against the same oracle.
TEST(tok_regex_engine_matches_std_regex) {
  std::mt19937 rng(12345);
  for (const bool memo : {false, true}) {  // also with the backtracking memo on from the start
    hb::unicode::set_regex_memo_always_for_test(memo);
    for (const std::string& re : all_pre_regexes()) {
      if (re == "\\p{Han}+" || re == "\\p{AFMoE_digits}") continue;  // llama.cpp's hand-written splitters
      // The wide oracle is std::wregex: with a 16-bit wchar_t (Windows) it sees surrogate pairs,
      // not code points, so only the collapsed (byte) oracle is meaningful there.
      if (sizeof(wchar_t) < 4 && !oracle_collapses(re)) continue;
      hb::unicode::PreTokenizer pre({re});
      int bad_generic = 0, bad_fast = 0;
      for (int it = 0; it < 100; ++it) {
        const std::vector<uint32_t> cp = random_text(rng, it % 4 == 0 ? 80 : 24);
        const std::vector<uint32_t> want = oracle_split(re, cp);
        const std::vector<uint32_t> generic = hb::unicode::split_generic_for_test(re, cp.data(), cp.size());
        std::vector<uint32_t> fast;
        pre.split(cp.data(), cp.size(), fast);
        bad_generic += generic != want;
        bad_fast += fast != want;
      }
      if (bad_generic) hbtest::report(__FILE__, __LINE__, "generic engine differs from std::regex for " + re);
      if (bad_fast) hbtest::report(__FILE__, __LINE__, "pre-tokenizer differs from std::regex for " + re);
    }
  }
  hb::unicode::set_regex_memo_always_for_test(false);
}

TEST(tok_regex_pathological_input_is_fast) {
  // Inputs that make a plain backtracker (and llama.cpp's std::regex) quadratic: \s+$ or
  // \s*[\r\n]+ over long runs of spaces, superbpe's (?=(\d{3})+(?!\d)) and tiny_aya's lookahead
  // over long numbers. The engine's memo keeps them linear; each must finish quickly.
  struct Case {
    const char* pre;
    uint32_t symbol;
  };
  for (const Case& c : {Case{"deepseek-llm", ' '}, Case{"jais-2", ' '}, Case{"superbpe", '7'}, Case{"tiny_aya", '5'},
                        Case{"gpt-4o", ' '}, Case{"exaone-moe", 'a'}}) {
    std::vector<uint32_t> cp(200000, c.symbol);
    cp.push_back('x');
    hb::unicode::PreTokenizer pre(hb::bpe_pre_regexes(c.pre));
    std::vector<uint32_t> lengths;
    const auto t0 = std::chrono::steady_clock::now();
    pre.split(cp.data(), cp.size(), lengths);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    size_t total = 0;
    for (uint32_t l : lengths) total += l;
    CHECK_EQ(total, cp.size());
    if (s > 5.0) hbtest::report(__FILE__, __LINE__, std::string(c.pre) + " took " + std::to_string(s) + " s on a pathological input");
  }
  std::vector<uint32_t> sp(100000, ' ');
  CHECK_EQ(hb::unicode::split_generic_for_test("\\s+$", sp.data(), sp.size()).size(), 1u);
}

// ---- llama.cpp's vocabulary fixtures -------------------------------------------------------

TEST(tok_fixture_llama_spm) { check_vocab_fixture("llama-spm"); }
TEST(tok_fixture_phi_3) { check_vocab_fixture("phi-3"); }
TEST(tok_fixture_llama_bpe) { check_vocab_fixture("llama-bpe"); }
TEST(tok_fixture_qwen2) { check_vocab_fixture("qwen2"); }
TEST(tok_fixture_gpt_2) { check_vocab_fixture("gpt-2"); }
TEST(tok_fixture_mpt) { check_vocab_fixture("mpt"); }
TEST(tok_fixture_deepseek_coder) { check_vocab_fixture("deepseek-coder"); }
TEST(tok_fixture_falcon) { check_vocab_fixture("falcon"); }
TEST(tok_fixture_starcoder) { check_vocab_fixture("starcoder"); }

// stories260K (SentencePiece, 512 tokens): llama.cpp's ids with add_special=true, and its greedy
// continuations' text as the concatenated pieces.
TEST(tok_stories260k_reference) {
  Loaded v = load_vocab(hbtest::fixtures_dir() + "/models/stories260K.gguf");
  CHECK_EQ(v.tok->n_vocab(), 512);
  CHECK_EQ(v.tok->model(), std::string("llama"));
  const std::string json = read_file(hbtest::fixtures_dir() + "/models/stories260K.ref.json");
  // Minimal reader for this file's shape: "prompt": "...", "tokens": [..], "greedy": [..], "greedy_text_hex": "..".
  auto string_after = [&](size_t from, const char* key, size_t* at) {
    size_t k = json.find(key, from);
    k = json.find('"', json.find(':', k)) + 1;
    std::string s;
    for (; json[k] != '"'; ++k) {
      if (json[k] == '\\') {
        ++k;
        s += json[k] == 'n' ? '\n' : json[k];
      } else {
        s += json[k];
      }
    }
    *at = k;
    return s;
  };
  auto ints_after = [&](size_t from, const char* key) {
    size_t k = json.find('[', json.find(key, from)) + 1;
    std::vector<int32_t> v;
    while (json[k] != ']') {
      v.push_back(static_cast<int32_t>(std::strtol(json.c_str() + k, nullptr, 10)));
      k = json.find_first_of(",]", k);
      if (json[k] == ',') ++k;
    }
    return v;
  };
  size_t pos = 0;
  int n = 0;
  while ((pos = json.find("\"prompt\"", pos)) != std::string::npos) {
    size_t end = 0;
    const std::string prompt = string_after(pos, "\"prompt\"", &end);
    const std::vector<int32_t> want = ints_after(pos, "\"tokens\"");
    CHECK_EQ(ids_str(v.tok->tokenize(prompt, true, false)), ids_str(want));
    const std::vector<int32_t> greedy = ints_after(pos, "\"greedy\"");
    size_t hex_end = 0;
    const std::string hex = string_after(pos, "\"greedy_text_hex\"", &hex_end);
    std::string text;
    for (size_t i = 0; i + 1 < hex.size(); i += 2) text.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    std::string pieces;
    for (int32_t id : greedy) pieces += v.tok->token_to_piece(id, false);
    CHECK(pieces == text);
    pos = end;
    ++n;
  }
  CHECK_EQ(n, 3);
}

// ---- special tokens, BOS/EOS, EOG, pieces ------------------------------------------------

TEST(tok_parse_special_spm) {
  Loaded v = load_vocab(tok_dir() + "ggml-vocab-llama-spm.gguf");
  hb::Tokenizer& t = *v.tok;
  CHECK_EQ(t.bos(), 1);
  CHECK_EQ(t.eos(), 2);
  const std::vector<int32_t> hello = t.tokenize("Hello", false, false);
  CHECK_EQ(ids_str(hello), std::string(" 15043"));  // "▁Hello"
  // Control token texts become their ids only with parse_special; the text after a special
  // token gets the SentencePiece space prefix again.
  std::vector<int32_t> want = {1};
  want.insert(want.end(), hello.begin(), hello.end());
  want.push_back(2);
  CHECK_EQ(ids_str(t.tokenize("<s>Hello</s>", false, true)), ids_str(want));
  const std::vector<int32_t> plain = t.tokenize("<s>Hello</s>", false, false);
  CHECK(std::find(plain.begin(), plain.end(), 1) == plain.end());
  CHECK_EQ(t.detokenize(plain, false), std::string("<s>Hello</s>"));
  // <unk> (type unknown) is special too.
  CHECK_EQ(ids_str(t.tokenize("<unk>", false, true)), std::string(" 0"));
  // Longest special first, leftmost occurrences, raw text between.
  const std::vector<int32_t> mixed = t.tokenize("a</s></s>b", false, true);
  CHECK(mixed.size() >= 4);
  CHECK_EQ(std::count(mixed.begin(), mixed.end(), 2), 2);
}

TEST(tok_parse_special_bpe) {
  Loaded v = load_vocab(tok_dir() + "ggml-vocab-llama-bpe.gguf");
  hb::Tokenizer& t = *v.tok;
  CHECK_EQ(t.token_text(128000), std::string("<|begin_of_text|>"));
  const std::vector<int32_t> hi = t.tokenize("Hi there", false, false);
  std::vector<int32_t> want = {128000};
  want.insert(want.end(), hi.begin(), hi.end());
  CHECK_EQ(ids_str(t.tokenize("<|begin_of_text|>Hi there", false, true)), ids_str(want));
  const std::vector<int32_t> raw = t.tokenize("<|begin_of_text|>Hi there", false, false);
  CHECK(raw.size() > want.size());
  CHECK_EQ(t.detokenize(raw, false), std::string("<|begin_of_text|>Hi there"));
  // Qwen2's chat markers are control tokens; its added tokens (user-defined) split even
  // without parse_special.
  Loaded q = load_vocab(tok_dir() + "ggml-vocab-qwen2.gguf");
  const std::vector<int32_t> chat = q.tok->tokenize("<|im_start|>user\nHi<|im_end|>", false, true);
  CHECK_EQ(chat.front(), 151644);
  CHECK_EQ(chat.back(), 151645);
  CHECK_EQ(q.tok->detokenize(chat, true), std::string("<|im_start|>user\nHi<|im_end|>"));
  CHECK_EQ(q.tok->detokenize(chat, false), std::string("user\nHi"));
}

TEST(tok_phi3_specials_strip_following_whitespace) {
  // llama.cpp marks Phi-3's special tokens RSTRIP (by general.name), except <s>, <unk>, <|endoftext|>.
  Loaded v = load_vocab(tok_dir() + "ggml-vocab-phi-3.gguf");
  hb::Tokenizer& t = *v.tok;
  const std::vector<int32_t> a = t.tokenize("<|user|>\n  Hi", false, true);
  const std::vector<int32_t> b = t.tokenize("<|user|>Hi", false, true);
  CHECK_EQ(ids_str(a), ids_str(b));
  CHECK_EQ(t.eos(), 32000);
  CHECK(t.is_eog(32000));  // <|endoftext|>
  CHECK(t.is_eog(32007));  // <|end|>
  CHECK(t.is_eog(2));      // </s>
}

TEST(tok_bos_eos_rules) {
  {
    Loaded v = load_vocab(tok_dir() + "ggml-vocab-llama-spm.gguf");
    CHECK(v.tok->add_bos() && !v.tok->add_eos());
    CHECK_EQ(ids_str(v.tok->tokenize("Hello", true, false)), std::string(" 1 15043"));
    CHECK_EQ(ids_str(v.tok->tokenize("", true, false)), std::string(" 1"));
    CHECK(v.tok->tokenize("", false, false).empty());
  }
  {
    Loaded v = load_vocab(tok_dir() + "ggml-vocab-llama-bpe.gguf");  // llama3: BOS by default
    CHECK(v.tok->add_bos());
    CHECK_EQ(v.tok->bos(), 128000);
    CHECK_EQ(v.tok->tokenize("Hi", true, false).front(), 128000);
  }
  {
    Loaded v = load_vocab(tok_dir() + "ggml-vocab-qwen2.gguf");  // qwen2: no BOS unless the file says so
    CHECK(!v.tok->add_bos());
    CHECK_EQ(ids_str(v.tok->tokenize("Hi", true, false)), ids_str(v.tok->tokenize("Hi", false, false)));
  }
  {
    Loaded v = load_vocab(tok_dir() + "ggml-vocab-deepseek-coder.gguf");  // add_bos_token = true in the file
    CHECK(v.tok->add_bos());
    CHECK_EQ(v.tok->tokenize("Hi", true, false).front(), 32013);
  }
  {
    Loaded v = load_vocab(tok_dir() + "ggml-vocab-gpt-2.gguf");
    CHECK(!v.tok->add_bos() && !v.tok->add_eos());
    CHECK(v.tok->tokenize("", true, false).empty());
  }
}

TEST(tok_eog_sets) {
  {
    Loaded v = load_vocab(tok_dir() + "ggml-vocab-llama-bpe.gguf");
    hb::Tokenizer& t = *v.tok;
    CHECK_EQ(t.eos(), 128001);
    CHECK(t.is_eog(128001));  // <|end_of_text|>
    CHECK(t.is_eog(128009));  // <|eot_id|>
    CHECK(t.eot() == 128009 || t.eot() == 128001);
    CHECK(!t.is_eog(128000));
    CHECK(!t.is_eog(0));
    CHECK(!t.is_eog(-1));
    for (int32_t id : t.eog_ids()) CHECK(t.attr(id) == hb::TokenAttr::Control);
  }
  {
    Loaded v = load_vocab(tok_dir() + "ggml-vocab-qwen2.gguf");
    hb::Tokenizer& t = *v.tok;
    CHECK(t.is_eog(151643));  // <|endoftext|>
    CHECK(t.is_eog(151645));  // <|im_end|>
    CHECK(!t.is_eog(151644));  // <|im_start|>
  }
  {
    Loaded v = load_vocab(tok_dir() + "ggml-vocab-llama-spm.gguf");
    CHECK_EQ(ids_str(v.tok->eog_ids()), std::string(" 2"));
  }
}

TEST(tok_pieces_and_render_special) {
  Loaded v = load_vocab(tok_dir() + "ggml-vocab-llama-spm.gguf");
  hb::Tokenizer& t = *v.tok;
  CHECK_EQ(t.token_to_piece(1, false), std::string(""));
  CHECK_EQ(t.token_to_piece(1, true), std::string("<s>"));
  CHECK_EQ(t.token_to_piece(0, false), std::string(""));  // <unk>
  CHECK_EQ(t.token_to_piece(15043, false), std::string(" Hello"));
  CHECK_EQ(t.token_to_piece(13, false), std::string("\n"));  // <0x0A>
  CHECK(t.attr(13) == hb::TokenAttr::Byte);
  // Detokenize: the leading space of the first text piece goes, also right after BOS.
  const std::vector<int32_t> ids = t.tokenize("Hello world", true, false);
  CHECK_EQ(t.detokenize(ids, false), std::string("Hello world"));
  CHECK_EQ(t.detokenize(ids, true), std::string("<s> Hello world"));  // as llama.cpp with remove_special=false
  CHECK_EQ(t.detokenize({15043}, false), std::string("Hello"));
  CHECK_EQ(t.detokenize({}, false), std::string(""));

  Loaded b = load_vocab(tok_dir() + "ggml-vocab-gpt-2.gguf");
  CHECK_EQ(b.tok->token_to_piece(50256, false), std::string(""));
  CHECK_EQ(b.tok->token_to_piece(50256, true), std::string("<|endoftext|>"));
  const std::vector<int32_t> g = b.tok->tokenize(" Hello, world !", false, false);
  CHECK_EQ(b.tok->detokenize(g, false), std::string(" Hello, world!"));  // clean_spaces: " !" -> "!"
}

TEST(tok_out_of_range_ids) {
  Loaded v = load_vocab(tok_dir() + "ggml-vocab-llama-spm.gguf");
  hb::Tokenizer& t = *v.tok;
  CHECK_THROWS_CODE(t.token_to_piece(-1, false), "TOKEN_OUT_OF_RANGE");
  CHECK_THROWS_CODE(t.token_to_piece(t.n_vocab(), true), "TOKEN_OUT_OF_RANGE");
  CHECK_THROWS_CODE(t.detokenize({1, 15043, 32000}, false), "TOKEN_OUT_OF_RANGE");
  CHECK_THROWS_CODE(t.token_text(40000), "TOKEN_OUT_OF_RANGE");
  CHECK_THROWS_CODE(t.attr(-5), "TOKEN_OUT_OF_RANGE");
}

// Invalid UTF-8 never crashes. SentencePiece works on raw bytes: symbols are cut by lead-byte
// length without validation and unknown pieces fall back to <0xXX> byte tokens, so the bytes come
// back exactly, except that a broken lead byte can swallow the start of the U+2581 that stands for
// a following space (then those bytes, not a space, come back), as in llama.cpp. Byte-level BPE
// decodes the text first and, as llama.cpp, turns each invalid byte into U+FFFD (EF BF BD).
TEST(tok_invalid_utf8) {
  Loaded s = load_vocab(tok_dir() + "ggml-vocab-llama-spm.gguf");
  const std::string bad_nospace = "ok\xFF\xC3x\xE2\x82!\xF0\x9F\x98.end\x80";
  CHECK_EQ(s.tok->detokenize(s.tok->tokenize(bad_nospace, false, false), false), bad_nospace);
  const std::string bad = "ok \xFF\xC3 x\xE2\x82 \xF0\x9F\x98 end\x80";
  CHECK_EQ(s.tok->detokenize(s.tok->tokenize(bad, false, false), false),
           std::string("ok \xFF\xC3\xE2\x96\x81x\xE2\x82\xE2\x96\x81\xF0\x9F\x98\xE2\x96\x81" "end\x80"));
  Loaded b = load_vocab(tok_dir() + "ggml-vocab-qwen2.gguf");
  const std::vector<int32_t> bids = b.tok->tokenize(bad, false, false);
  CHECK_EQ(b.tok->detokenize(bids, false),
           std::string("ok \xEF\xBF\xBD\xEF\xBF\xBD x\xEF\xBF\xBD\xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD end\xEF\xBF\xBD"));
  std::mt19937 rng(7);
  for (int it = 0; it < 300; ++it) {
    std::string junk(rng() % 40, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    const std::vector<int32_t> a = s.tok->tokenize(junk, true, true);
    const std::string back = s.tok->detokenize(a, false);
    if (junk.find(' ') == std::string::npos) CHECK(back == junk);
    const std::vector<int32_t> c = b.tok->tokenize(junk, true, true);
    (void)b.tok->detokenize(c, true);
  }
}

// ---- metadata errors and synthetic vocabularies ----------------------------------------------

TEST(tok_unsupported_and_missing) {
  {
    GgufBuilder g;
    g.kv_str("tokenizer.ggml.model", "gpt2");
    g.kv_str("tokenizer.ggml.pre", "no-such-pre");
    g.kv_strs("tokenizer.ggml.tokens", {"a", "b"});
    g.kv_strs("tokenizer.ggml.merges", {"a b"});
    auto f = g.parse();
    bool named = false;
    try {
      hb::Tokenizer::from_gguf(*f);
    } catch (const hb::Error& e) {
      CHECK_EQ(e.code(), std::string("UNSUPPORTED_TOKENIZER"));
      named = std::string(e.what()).find("no-such-pre") != std::string::npos;
    }
    CHECK(named);
  }
  {
    GgufBuilder g;
    g.kv_str("tokenizer.ggml.model", "bert");
    g.kv_strs("tokenizer.ggml.tokens", {"a"});
    auto f = g.parse();
    CHECK_THROWS_CODE(hb::Tokenizer::from_gguf(*f), "UNSUPPORTED_TOKENIZER");
  }
  {
    GgufBuilder g;
    g.kv_str("general.architecture", "llama");
    auto f = g.parse();
    CHECK_THROWS_CODE(hb::Tokenizer::from_gguf(*f), "TOKENIZER_MISSING");
  }
  {
    GgufBuilder g;
    g.kv_str("tokenizer.ggml.model", "llama");
    auto f = g.parse();
    CHECK_THROWS_CODE(hb::Tokenizer::from_gguf(*f), "TOKENIZER_MISSING");
  }
  {
    GgufBuilder g;  // merges missing for BPE
    g.kv_str("tokenizer.ggml.model", "gpt2");
    g.kv_str("tokenizer.ggml.pre", "gpt-2");
    g.kv_strs("tokenizer.ggml.tokens", {"a"});
    auto f = g.parse();
    CHECK_THROWS_CODE(hb::Tokenizer::from_gguf(*f), "TOKENIZER_MISSING");
  }
  {
    GgufBuilder g;  // scores shorter than tokens
    g.kv_str("tokenizer.ggml.model", "llama");
    g.kv_strs("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>"});
    g.kv_f32s("tokenizer.ggml.scores", {0.0f});
    auto f = g.parse();
    CHECK_THROWS_CODE(hb::Tokenizer::from_gguf(*f), "GGUF_BAD_METADATA");
  }
  {
    GgufBuilder g;  // duplicate token text
    g.kv_str("tokenizer.ggml.model", "llama");
    g.kv_strs("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a", "a"});
    auto f = g.parse();
    CHECK_THROWS_CODE(hb::Tokenizer::from_gguf(*f), "GGUF_BAD_METADATA");
  }
  {
    GgufBuilder g;  // add_bos but the default BOS id 1 does not exist
    g.kv_str("tokenizer.ggml.model", "llama");
    g.kv_strs("tokenizer.ggml.tokens", {"<unk>"});
    auto f = g.parse();
    CHECK_THROWS_CODE(hb::Tokenizer::from_gguf(*f), "GGUF_BAD_METADATA");
  }
  {
    GgufBuilder g;  // no vocabulary at all: loads, but cannot tokenize
    g.kv_str("tokenizer.ggml.model", "no_vocab");
    auto f = g.parse();
    auto t = hb::Tokenizer::from_gguf(*f);
    CHECK_EQ(t->n_vocab(), 0);
    CHECK_THROWS_CODE(t->tokenize("hi", false, false), "TOKENIZER_MISSING");
  }
}

TEST(tok_synthetic_spm) {
  // Merges go by score (highest first); an out-of-range special id in the file keeps the default.
  GgufBuilder g;
  g.kv_str("tokenizer.ggml.model", "llama");
  g.kv_strs("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a", "b", "\xE2\x96\x81" "a", "ab", "\xE2\x96\x81" "ab", "<0x63>"});
  g.kv_f32s("tokenizer.ggml.scores", {0, 0, 0, -1, -1, -1, -3, -2, -4, 0});
  g.kv_i32s("tokenizer.ggml.token_type", {2, 3, 3, 1, 1, 1, 1, 1, 1, 6});
  g.kv_u32("tokenizer.ggml.eos_token_id", 999);
  auto f = g.parse();
  auto t = hb::Tokenizer::from_gguf(*f);
  CHECK_EQ(t->eos(), 2);
  // "▁ab": (a,b) scores -2 > (▁,a) -3, so "ab" first, then "▁ab" exists -> one token.
  CHECK_EQ(ids_str(t->tokenize("ab", false, false)), std::string(" 8"));
  // 'c' has a byte token, 'd' has none: <unk> (llama.cpp would throw).
  CHECK_EQ(ids_str(t->tokenize("c", false, false)), std::string(" 3 9"));
  CHECK_EQ(ids_str(t->tokenize("d", false, false)), std::string(" 3 0"));
  CHECK_EQ(t->detokenize(t->tokenize("abc", true, false), false), std::string("abc"));
}

TEST(tok_synthetic_bpe) {
  // Lowest rank merges first; a merge whose result is not a token falls back to byte tokens.
  GgufBuilder g;
  g.kv_str("tokenizer.ggml.model", "gpt2");
  g.kv_str("tokenizer.ggml.pre", "gpt-2");
  g.kv_strs("tokenizer.ggml.tokens", {"a", "b", "c", "ab", "bc", gpt2(" "), gpt2(" ") + "a", "x", "y"});
  g.kv_strs("tokenizer.ggml.merges", {"b c", "a b", gpt2(" ") + " a", "x y"});
  auto f = g.parse();
  auto t = hb::Tokenizer::from_gguf(*f);
  CHECK_EQ(ids_str(t->tokenize("abc", false, false)), std::string(" 0 4"));  // "b c" (rank 0) beats "a b"
  CHECK_EQ(ids_str(t->tokenize("ab", false, false)), std::string(" 3"));
  CHECK_EQ(ids_str(t->tokenize(" a", false, false)), std::string(" 6"));
  CHECK_EQ(ids_str(t->tokenize("xy", false, false)), std::string(" 7 8"));  // "xy" is no token
  CHECK_EQ(ids_str(t->tokenize("z", false, false)), std::string(""));       // no token for 'z' at all: dropped, as llama.cpp
  CHECK_EQ(t->detokenize({6, 4}, false), std::string(" abc"));
}

// ---- the extra vocabularies (no reference ids: hand-reasoned properties) ------------------------

namespace {
// Cumulative byte offsets where tokens end.
std::set<size_t> token_ends(const hb::Tokenizer& t, const std::vector<int32_t>& ids) {
  std::set<size_t> ends;
  size_t at = 0;
  for (int32_t id : ids) {
    at += t.token_to_piece(id, true).size();
    ends.insert(at);
  }
  return ends;
}
}  // namespace

TEST(tok_extra_command_r_and_refact_split_digits) {
  for (const char* name : {"command-r", "refact"}) {
    Loaded v = load_vocab(tok_dir() + "ggml-vocab-" + name + ".gguf");
    // "\p{N}" first: every digit is its own word, so its own token.
    const std::vector<int32_t> ids = v.tok->tokenize("year 20245!", false, false);
    std::vector<std::string> pieces;
    for (int32_t id : ids) pieces.push_back(v.tok->token_to_piece(id, false));
    CHECK(pieces.size() >= 7);
    CHECK(std::find(pieces.begin(), pieces.end(), "2") != pieces.end());
    CHECK_EQ(std::count(pieces.begin(), pieces.end(), "2"), 2);
    CHECK_EQ(v.tok->detokenize(ids, false), std::string("year 20245!"));
  }
  Loaded c = load_vocab(tok_dir() + "ggml-vocab-command-r.gguf");
  CHECK_EQ(c.tok->bos(), 5);
  CHECK(c.tok->add_bos());
  CHECK(c.tok->is_eog(255001));
  CHECK_EQ(c.tok->tokenize("Hi", true, false).front(), 5);
}

TEST(tok_extra_deepseek_llm_word_boundaries) {
  Loaded v = load_vocab(tok_dir() + "ggml-vocab-deepseek-llm.gguf");
  hb::Tokenizer& t = *v.tok;
  // Words: "Hello" | " " | "世界" | " " | "12345" | "\n" | "\n" | "foo" | "  " (trailing \s+$)
  const std::string text = "Hello \xE4\xB8\x96\xE7\x95\x8C 12345\n\nfoo  ";
  const std::vector<int32_t> ids = t.tokenize(text, false, false);
  const std::set<size_t> ends = token_ends(t, ids);
  for (size_t b : {5, 6, 12, 13, 18, 19, 20, 23, 25}) {
    if (!ends.count(b)) hbtest::report(__FILE__, __LINE__, "deepseek-llm: no token boundary at byte " + std::to_string(b));
  }
  CHECK_EQ(t.detokenize(ids, false), text);
  CHECK_EQ(t.tokenize("Hi", true, false).front(), 100000);
}

TEST(tok_extra_qwen35_marks_join_letters) {
  Loaded q2 = load_vocab(tok_dir() + "ggml-vocab-qwen2.gguf");
  Loaded q35 = load_vocab(tok_dir() + "ggml-vocab-qwen35.gguf");
  // Same vocabulary; plain text splits the same way.
  const std::string plain = "Hello world, it's 2024!\n  x";
  CHECK_EQ(ids_str(q2.tok->tokenize(plain, false, false)), ids_str(q35.tok->tokenize(plain, false, false)));
  // A combining mark: qwen2's \p{L}+ stops before it ("cafe" | U+0301 + "s": the mark is the
  // optional lead of the next word); qwen35's [\p{L}\p{M}]+ keeps one word.
  const std::vector<uint32_t> cp = {'c', 'a', 'f', 'e', 0x301, 's', ' ', 'x'};
  std::vector<uint32_t> w2, w35;
  hb::unicode::PreTokenizer(hb::bpe_pre_regexes("qwen2")).split(cp.data(), cp.size(), w2);
  hb::unicode::PreTokenizer(hb::bpe_pre_regexes("qwen35")).split(cp.data(), cp.size(), w35);
  CHECK(w2 == (std::vector<uint32_t>{4, 2, 2}));
  CHECK(w35 == (std::vector<uint32_t>{6, 2}));
  const std::string marked = "cafe\xCC\x81s x";
  const std::set<size_t> e2 = token_ends(*q2.tok, q2.tok->tokenize(marked, false, false));
  CHECK(e2.count(4));
  CHECK_EQ(q35.tok->detokenize(q35.tok->tokenize(marked, false, false), false), marked);
}

// Every tokenizer.ggml.pre name llama.cpp knows compiles to a working pre-tokenizer.
TEST(tok_every_pre_tokenizer_compiles) {
  const char* names[] = {
      "default", "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano", "dbrx",
      "smaug-bpe", "jais-2", "deepseek-llm", "deepseek-coder", "deepseek-v3", "hunyuan-dense", "hy_v4", "joyai-llm", "spark2_5",
      "youtu", "falcon", "starcoder", "refact", "smollm", "codeshell", "exaone", "minerva-7b", "mellum2", "command-r", "gpt-2",
      "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum", "modern-bert", "jina-v1-en",
      "jina-v2-code", "roberta-bpe", "exaone4", "mpt", "olmo", "jais", "trillion", "granite-docling", "qwen2", "deepseek-r1-qwen",
      "kormo", "f2llmv2", "hunyuan", "solar-open", "grok-2", "stablelm2", "megrez", "qwen35", "bloom", "gpt3-finnish", "poro-chat",
      "viking", "glm4", "chatglm-bpe", "tekken", "chameleon", "gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2",
      "granite-embed-multi-97m", "tiny_aya", "cohere2moe", "kimi-k2", "superbpe", "bailingmoe", "bailingmoe2", "llada-moe",
      "seed-coder", "ufakzeka", "afmoe", "laguna", "exaone-moe", "minicpm5", "sarvam-moe"};
  const std::string sample = "Hello, World! It's 2024-06-01 12345678 \xE4\xBD\xA0\xE5\xA5\xBD \xC3\xA9t\xC3\xA9\n\n  x\ty <sentinel:3> IMGIMGABZ";
  std::vector<uint32_t> cp;
  hb::unicode::decode_utf8_all(sample.data(), sample.size(), cp);
  for (const char* name : names) {
    const std::vector<std::string> res = hb::bpe_pre_regexes(name);
    if (res.empty()) {
      hbtest::report(__FILE__, __LINE__, std::string("no regexes for ") + name);
      continue;
    }
    try {
      hb::unicode::PreTokenizer pre(res);
      std::vector<uint32_t> lengths;
      pre.split(cp.data(), cp.size(), lengths);
      size_t total = 0;
      for (uint32_t l : lengths) total += l;
      if (total != cp.size()) hbtest::report(__FILE__, __LINE__, std::string("split loses text for ") + name);
    } catch (const hb::Error& e) {
      hbtest::report(__FILE__, __LINE__, std::string(name) + ": " + e.what());
    }
  }
  CHECK(hb::bpe_pre_regexes("no-such-pre").empty());
  CHECK(hb::bpe_pre_regexes("gemma4").empty());  // needs tokenizer.ggml.model "gemma4", not supported
}
