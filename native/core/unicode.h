// Unicode helpers for the tokenizers: codepoint classification (general category + White_Space,
// Unicode 15.1, as llama.cpp's tables), llama.cpp-compatible UTF-8 decoding, GPT-2's byte<->unicode
// mapping, and the pre-tokenizer that splits text into words with the regex lists llama.cpp uses
// per tokenizer.ggml.pre (fast hand-written matchers for the common ones, a small backtracking
// regex engine with ECMAScript semantics for the rest).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace hb {
namespace unicode {

// Codepoint flags. The low byte holds exactly one category bit (as llama.cpp's unicode_cpt_flags).
enum : uint16_t {
  kUndefined = 0x01,    // unassigned (Cn) or beyond U+10FFFF
  kNumber = 0x02,       // \p{N}
  kLetter = 0x04,       // \p{L}
  kSeparator = 0x08,    // \p{Z}
  kMark = 0x10,         // \p{M}
  kPunctuation = 0x20,  // \p{P}
  kSymbol = 0x40,       // \p{S}
  kControl = 0x80,      // \p{C} except Cn
  kCategoryMask = 0xFF,
  kWhitespace = 0x100,  // White_Space property (what llama.cpp's \s means)
};

struct CategoryRange {
  uint32_t start;  // first codepoint of a run; the run ends where the next entry starts
  uint16_t flags;
};
extern const CategoryRange kCategoryRanges[];  // unicode_tables.cpp (generated)
extern const size_t kCategoryRangeCount;

// Flags of one codepoint (O(1): two-level table built once on first use).
uint16_t flags(uint32_t cp);

constexpr uint32_t kReplacementChar = 0xFFFD;

// Byte length of a UTF-8 sequence from its lead byte, without validation (llama.cpp's
// unicode_len_utf8: continuation bytes count as 1, F8..FF as 4).
inline size_t utf8_len(uint8_t lead) {
  static const uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[lead >> 4];
}

// Decodes one codepoint at s[*pos] (pos < n) and advances *pos. Invalid or truncated sequences
// yield U+FFFD and advance one byte, as llama.cpp's unicode_cpts_from_utf8 (which accepts
// overlong forms and surrogates as they come).
uint32_t decode_utf8(const char* s, size_t n, size_t* pos);
// Appends decode_utf8 of every position of [s, s+n) to out.
void decode_utf8_all(const char* s, size_t n, std::vector<uint32_t>& out);
// Appends the UTF-8 encoding of cp (cp <= 0x10FFFF; larger values are encoded as U+FFFD).
void append_utf8(std::string& out, uint32_t cp);
inline size_t utf8_encoded_len(uint32_t cp) { return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4; }

// GPT-2 byte-level BPE maps every byte to a printable codepoint: '!'..'~', U+00A1..U+00AC and
// U+00AE..U+00FF map to themselves, the other 68 bytes to U+0100.. in byte order.
uint32_t byte_to_gpt2_cp(uint8_t b);
// Inverse of byte_to_gpt2_cp; -1 for codepoints no byte maps to.
int gpt2_cp_to_byte(uint32_t cp);

// CJK ideograph ranges llama.cpp treats as \p{Han} (Kimi-K2 pre-tokenizer).
bool is_han(uint32_t cp);

// One regex of a pre-tokenizer, compiled. Opaque; see unicode.cpp / unicode_regex.cpp.
class SplitStep;

// The ordered regex list llama.cpp applies for one tokenizer.ggml.pre value. Each step splits
// every current fragment further (matches and the text between them both become fragments),
// exactly as llama.cpp's unicode_regex_split.
class PreTokenizer {
 public:
  // Throws hb::Error UNSUPPORTED_TOKENIZER if a regex uses syntax the engine does not support.
  explicit PreTokenizer(const std::vector<std::string>& regexes);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // cpts[0..n) is the text's codepoints. Writes the word lengths (in codepoints, zero-length
  // words included as llama.cpp produces them) to lengths.
  void split(const uint32_t* cpts, size_t n, std::vector<uint32_t>& lengths) const;

 private:
  std::vector<std::unique_ptr<SplitStep>> steps_;
};

// Exposed for tests: runs a single regex with the generic engine, the way llama.cpp's std::regex
// fallback would (collapsed category text when the regex uses \p{..}, codepoints otherwise).
std::vector<uint32_t> split_generic_for_test(const std::string& regex, const uint32_t* cpts, size_t n);
// Tests only: make the regex engine use its backtracking memo from the start.
void set_regex_memo_always_for_test(bool on);

}  // namespace unicode
}  // namespace hb
