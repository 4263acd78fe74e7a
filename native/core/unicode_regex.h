// Internal to the pre-tokenizer (unicode.cpp): a small backtracking regex engine with the
// semantics llama.cpp gets from libstdc++'s std::regex (ECMAScript grammar, leftmost-first
// alternation, greedy quantifiers, atomic lookahead), including the way llama.cpp feeds it:
// regexes that use \p{..} run on "collapsed" text (one byte per codepoint: ASCII as is, other
// codepoints as a category byte), the rest on codepoints with non-ASCII whitespace as \v.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace hb {
namespace unicode {
namespace detail {

// The two symbol streams of one text, computed on first use.
class SymbolCache {
 public:
  const uint32_t* get(bool collapsed, const uint32_t* cpts, const uint16_t* flags, size_t n);

 private:
  std::vector<uint32_t> collapsed_, wide_;
  bool have_collapsed_ = false, have_wide_ = false;
};

// Tests only: use the backtracking memo from the first step (normally it switches on only when a
// fragment backtracks heavily), so its correctness can be checked on ordinary inputs.
extern bool g_memo_always;

struct Program;
struct CharClass;

class Regex {
 public:
  // Throws hb::Error UNSUPPORTED_TOKENIZER for syntax outside the supported subset (or that
  // llama.cpp itself rejects, e.g. \p{..} mixed with non-ASCII characters).
  static std::unique_ptr<Regex> compile(const std::string& pattern);
  ~Regex();

  bool collapsed() const { return collapsed_; }
  // llama.cpp's unicode_regex_split_stl: for each fragment (lengths in `in`), every match and
  // every stretch between matches becomes a fragment (empty matches included) in `out`.
  void split(const uint32_t* sym, size_t n, const std::vector<uint32_t>& in, std::vector<uint32_t>& out) const;

 private:
  Regex() = default;
  bool collapsed_ = false;
  std::vector<std::unique_ptr<Program>> progs_;  // [0] main, the rest lookahead bodies
  std::vector<CharClass> classes_;
  bool begin_dependent_ = false;                 // uses \b, \B or ^ (results depend on the attempt start)
  friend class Matcher;
  friend class Compiler;
};

}  // namespace detail
}  // namespace unicode
}  // namespace hb
