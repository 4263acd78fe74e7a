// Unicode classification, UTF-8 and GPT-2 byte mapping, and the pre-tokenizer's fast splitters.
// The behaviour follows llama.cpp's src/unicode.cpp (the specification for halfbyte's tokenizers);
// the generic regex engine for the less common pre-tokenizers lives in unicode_regex.cpp.
#include "unicode.h"

#include <algorithm>
#include <cstring>
#include <mutex>

#include "error.h"
#include "unicode_regex.h"

namespace hb {
namespace unicode {

// ---- classification ----------------------------------------------------------------------

namespace {

// Two-level lookup: kStage1[cp >> 8] selects a 256-entry block of flags in stage2 (identical
// blocks shared), built once from the generated ranges. ~100 KB.
struct FlagTable {
  std::vector<uint16_t> stage1;  // 0x1100 block indices
  std::vector<uint16_t> stage2;  // n_blocks * 256 flags

  FlagTable() {
    stage1.resize(0x110000 >> 8);
    std::vector<uint16_t> block(256);
    size_t range = 0;
    for (uint32_t b = 0; b < stage1.size(); ++b) {
      for (uint32_t i = 0; i < 256; ++i) {
        const uint32_t cp = (b << 8) | i;
        while (range + 1 < kCategoryRangeCount && kCategoryRanges[range + 1].start <= cp) ++range;
        block[i] = kCategoryRanges[range].flags;
      }
      // Reuse an identical earlier block (most astral blocks are all "unassigned").
      size_t found = stage2.size() / 256;
      for (size_t k = 0; k < stage2.size() / 256; ++k) {
        if (std::memcmp(&stage2[k * 256], block.data(), 256 * sizeof(uint16_t)) == 0) {
          found = k;
          break;
        }
      }
      if (found == stage2.size() / 256) stage2.insert(stage2.end(), block.begin(), block.end());
      stage1[b] = static_cast<uint16_t>(found);
    }
  }
};

const FlagTable& flag_table() {
  static const FlagTable table;
  return table;
}

}  // namespace

uint16_t flags(uint32_t cp) {
  if (cp >= 0x110000) return kUndefined;
  const FlagTable& t = flag_table();
  return t.stage2[(static_cast<size_t>(t.stage1[cp >> 8]) << 8) | (cp & 0xFF)];
}

bool is_han(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0x2CEB0 && cp <= 0x2EBEF) || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

// ---- UTF-8 ---------------------------------------------------------------------------------

uint32_t decode_utf8(const char* s, size_t n, size_t* pos) {
  const size_t i = *pos;
  const uint8_t c0 = static_cast<uint8_t>(s[i]);
  if (c0 < 0x80) {
    *pos = i + 1;
    return c0;
  }
  auto cont = [&](size_t k) { return (static_cast<uint8_t>(s[i + k]) & 0xC0) == 0x80; };
  if ((c0 & 0xE0) == 0xC0) {
    if (i + 1 < n && cont(1)) {
      *pos = i + 2;
      return ((c0 & 0x1Fu) << 6) | (static_cast<uint8_t>(s[i + 1]) & 0x3Fu);
    }
  } else if ((c0 & 0xF0) == 0xE0) {
    if (i + 2 < n && cont(1) && cont(2)) {
      *pos = i + 3;
      return ((c0 & 0x0Fu) << 12) | ((static_cast<uint8_t>(s[i + 1]) & 0x3Fu) << 6) | (static_cast<uint8_t>(s[i + 2]) & 0x3Fu);
    }
  } else if ((c0 & 0xF8) == 0xF0) {
    if (i + 3 < n && cont(1) && cont(2) && cont(3)) {
      *pos = i + 4;
      return ((c0 & 0x07u) << 18) | ((static_cast<uint8_t>(s[i + 1]) & 0x3Fu) << 12) |
             ((static_cast<uint8_t>(s[i + 2]) & 0x3Fu) << 6) | (static_cast<uint8_t>(s[i + 3]) & 0x3Fu);
    }
  }
  // Continuation byte as lead, F8..FF, or a truncated/broken sequence: one byte -> U+FFFD.
  *pos = i + 1;
  return kReplacementChar;
}

void decode_utf8_all(const char* s, size_t n, std::vector<uint32_t>& out) {
  out.reserve(out.size() + n);
  size_t pos = 0;
  while (pos < n) {
    // ASCII fast path: most text is plain ASCII runs.
    const uint8_t c = static_cast<uint8_t>(s[pos]);
    if (c < 0x80) {
      out.push_back(c);
      ++pos;
      continue;
    }
    out.push_back(decode_utf8(s, n, &pos));
  }
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp > 0x10FFFF) cp = kReplacementChar;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// ---- GPT-2 byte mapping ----------------------------------------------------------------------

namespace {
struct Gpt2Map {
  uint32_t byte_to_cp[256];
  int16_t cp_to_byte[0x144];  // every mapped codepoint is < U+0144
  Gpt2Map() {
    for (auto& v : cp_to_byte) v = -1;
    auto printable = [](int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      byte_to_cp[b] = printable(b) ? static_cast<uint32_t>(b) : next++;
      cp_to_byte[byte_to_cp[b]] = static_cast<int16_t>(b);
    }
  }
};
const Gpt2Map& gpt2_map() {
  static const Gpt2Map map;
  return map;
}
}  // namespace

uint32_t byte_to_gpt2_cp(uint8_t b) { return gpt2_map().byte_to_cp[b]; }

int gpt2_cp_to_byte(uint32_t cp) { return cp < 0x144 ? gpt2_map().cp_to_byte[cp] : -1; }

// ---- pre-tokenizer steps -------------------------------------------------------------------

// The text being split: codepoints, their flags, and (built on demand) the symbol streams the
// generic regex engine matches on.
struct SplitText {
  const uint32_t* cpts = nullptr;
  size_t n = 0;
  std::vector<uint16_t> fl;
  detail::SymbolCache symbols;
};

class SplitStep {
 public:
  virtual ~SplitStep() = default;
  // Splits each fragment of `in` (lengths in codepoints, in order) and appends to `out`.
  virtual void run(SplitText& text, const std::vector<uint32_t>& in, std::vector<uint32_t>& out) const = 0;
};

namespace {

constexpr uint32_t kOutOfRange = 0xFFFFFFFF;

// Shared bookkeeping of llama.cpp's custom splitters: one fragment [ini, end), tokens are
// emitted as lengths; flags/codepoints outside the fragment read as 0 / kOutOfRange.
struct Cursor {
  const uint32_t* cp;
  const uint16_t* fl;
  size_t ini, end, prev_end;
  std::vector<uint32_t>* out;
  uint32_t cpt(size_t p) const { return (p >= ini && p < end) ? cp[p] : kOutOfRange; }
  uint16_t flg(size_t p) const { return (p >= ini && p < end) ? fl[p] : 0; }
  size_t emit(size_t e) {
    const size_t len = e - prev_end;
    if (len > 0) out->push_back(static_cast<uint32_t>(len));
    prev_end = e;
    return len;
  }
};

inline bool is_ws(uint16_t f) { return (f & kWhitespace) != 0; }
inline bool is_letter(uint16_t f) { return (f & kLetter) != 0; }
inline bool is_number(uint16_t f) { return (f & kNumber) != 0; }

// ASCII lowering is exact here: no non-ASCII codepoint lowercases to s, t, r, e, v, m, l or d.
inline uint32_t ascii_lower(uint32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

// Length of an English contraction ('s 't 'm 'd 're 've 'll) at p, 0 if none.
inline size_t contraction_len(const Cursor& c, size_t p, bool case_insensitive) {
  if (c.cpt(p) != '\'' || p + 1 >= c.end) return 0;
  const uint32_t n1 = case_insensitive ? ascii_lower(c.cpt(p + 1)) : c.cpt(p + 1);
  if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') return 2;
  if (p + 2 < c.end) {
    const uint32_t n2 = case_insensitive ? ascii_lower(c.cpt(p + 2)) : c.cpt(p + 2);
    if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) return 3;
  }
  return 0;
}

// GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
// (llama.cpp's hand-written version, quirks included: it is what llama.cpp runs for this regex).
class Gpt2Step : public SplitStep {
 public:
  void run(SplitText& t, const std::vector<uint32_t>& in, std::vector<uint32_t>& out) const override {
    size_t start = 0;
    for (uint32_t len : in) {
      Cursor c{t.cpts, t.fl.data(), start, start + len, start, &out};
      start += len;
      for (size_t pos = c.ini; pos < c.end;) {
        const uint32_t cpt = c.cpt(pos);
        const uint16_t f = c.flg(pos);
        if (size_t k = contraction_len(c, pos, false)) {
          pos += c.emit(pos + k);
          continue;
        }
        uint16_t f2 = (cpt == ' ') ? c.flg(pos + 1) : f;
        if (is_letter(f2)) {  //  ?\p{L}+
          pos += (cpt == ' ');
          while (is_letter(f2)) f2 = c.flg(++pos);
          c.emit(pos);
          continue;
        }
        if (is_number(f2)) {  //  ?\p{N}+
          pos += (cpt == ' ');
          while (is_number(f2)) f2 = c.flg(++pos);
          c.emit(pos);
          continue;
        }
        auto other = [](uint16_t x) { return !(x & (kWhitespace | kLetter | kNumber)) && x != 0; };
        if (other(f2)) {  //  ?[^\s\p{L}\p{N}]+
          pos += (cpt == ' ');
          while (other(f2)) f2 = c.flg(++pos);
          c.emit(pos);
          continue;
        }
        size_t nws = 0;
        while (is_ws(c.flg(pos + nws))) ++nws;
        if (nws > 1 && c.cpt(pos + nws) != kOutOfRange) {  // \s+(?!\S)
          pos += nws - 1;
          c.emit(pos);
          continue;
        }
        if (nws > 0) {  // \s+
          pos += nws;
          c.emit(pos);
          continue;
        }
        c.emit(++pos);  // no match: one codepoint alone
      }
    }
  }
};

// The llama3 family of patterns:
//   (?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])   (if contractions)
//   |[^\r\n\p{L}\p{N}]?\p{L}+        (\p{L} is [\p{L}\p{M}] if letters_with_marks)
//   |\p{N}{1,D}                      (D = digit_group; 0 = unbounded)
//   | ?[^\s\p{L}\p{N}]+[\r\n]*       ([\r\n]* only if crlf_after_punct)
//   |\s*[\r\n]+|\s+(?!\S)|\s+
// For the llama3 regex this is llama.cpp's hand-written splitter; for qwen2, qwen35, bailingmoe,
// seed-coder etc. (which llama.cpp runs through std::regex on category-collapsed text) it gives
// the same splits, checked against the generic engine by the tests.
struct Llama3Params {
  bool contractions;
  bool letters_with_marks;
  uint32_t digit_group;
  bool crlf_after_punct;
};

class Llama3Step : public SplitStep {
 public:
  explicit Llama3Step(Llama3Params p) : p_(p) {}
  void run(SplitText& t, const std::vector<uint32_t>& in, std::vector<uint32_t>& out) const override {
    const uint16_t letter_mask = p_.letters_with_marks ? (kLetter | kMark) : kLetter;
    auto word = [&](uint16_t x) { return (x & letter_mask) != 0; };
    size_t start = 0;
    for (uint32_t len : in) {
      Cursor c{t.cpts, t.fl.data(), start, start + len, start, &out};
      start += len;
      for (size_t pos = c.ini; pos < c.end;) {
        const uint32_t cpt = c.cpt(pos);
        const uint16_t f = c.flg(pos);
        if (p_.contractions) {
          if (size_t k = contraction_len(c, pos, true)) {
            pos += c.emit(pos + k);
            continue;
          }
        }
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if (!(cpt == '\r' || cpt == '\n' || is_number(f))) {
          if (word(f) || word(c.flg(pos + 1))) {
            ++pos;
            while (word(c.flg(pos))) ++pos;
            c.emit(pos);
            continue;
          }
        }
        // \p{N}{1,D}
        if (is_number(f)) {
          size_t ini = pos;
          while (is_number(c.flg(pos))) {
            if (++pos - ini >= p_.digit_group && p_.digit_group != 0) {
              c.emit(pos);
              ini = pos;
            }
          }
          c.emit(pos);
          continue;
        }
        //  ?[^\s\p{L}\p{N}]+[\r\n]*
        auto other = [&](uint16_t x) { return !(x & (kWhitespace | letter_mask | kNumber)) && x != 0; };
        uint16_t f2 = (cpt == ' ') ? c.flg(pos + 1) : f;
        if (!(f2 & (kWhitespace | letter_mask | kNumber)) && f != 0) {
          pos += (cpt == ' ');
          while (other(f2)) f2 = c.flg(++pos);
          if (p_.crlf_after_punct) {
            uint32_t cpt2 = c.cpt(pos);
            while (cpt2 == '\r' || cpt2 == '\n') cpt2 = c.cpt(++pos);
          }
          c.emit(pos);
          continue;
        }
        size_t nws = 0, last_crlf_end = 0;
        while (is_ws(c.flg(pos + nws))) {
          const uint32_t cpt2 = c.cpt(pos + nws);
          if (cpt2 == '\r' || cpt2 == '\n') last_crlf_end = pos + nws + 1;
          ++nws;
        }
        if (last_crlf_end > 0) {  // \s*[\r\n]+
          pos = last_crlf_end;
          c.emit(pos);
          continue;
        }
        if (nws > 1 && c.cpt(pos + nws) != kOutOfRange) {  // \s+(?!\S)
          pos += nws - 1;
          c.emit(pos);
          continue;
        }
        if (nws > 0) {  // \s+
          pos += nws;
          c.emit(pos);
          continue;
        }
        c.emit(++pos);
      }
    }
  }

 private:
  Llama3Params p_;
};

// Kimi-K2 (llama.cpp's hand-written splitter for the "\p{Han}+" trigger regex):
// [\p{Han}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+(?i:'s|...)?
// |...|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+  (letters taken as one class, as llama.cpp does)
class KimiK2Step : public SplitStep {
 public:
  void run(SplitText& t, const std::vector<uint32_t>& in, std::vector<uint32_t>& out) const override {
    size_t start = 0;
    for (uint32_t len : in) {
      Cursor c{t.cpts, t.fl.data(), start, start + len, start, &out};
      start += len;
      auto letter_not_han = [&](size_t p) { return is_letter(c.flg(p)) && !is_han(c.cpt(p)); };
      for (size_t pos = c.ini; pos < c.end;) {
        const uint32_t cpt = c.cpt(pos);
        const uint16_t f = c.flg(pos);
        if (is_han(cpt)) {
          while (is_han(c.cpt(pos))) ++pos;
          c.emit(pos);
          continue;
        }
        const bool lead_ok = !(cpt == '\r' || cpt == '\n' || is_letter(f) || is_number(f));
        if ((is_letter(f) && !is_han(cpt)) || (lead_ok && letter_not_han(pos + 1))) {
          bool has_lead = false;
          if (lead_ok) {
            has_lead = true;
            ++pos;
          }
          bool has_letters = false;
          while (letter_not_han(pos)) {
            has_letters = true;
            ++pos;
          }
          if (has_letters || (!has_lead && letter_not_han(pos))) {
            if (!has_letters) ++pos;
            while (letter_not_han(pos)) ++pos;
            if (c.cpt(pos) == '\'' && pos + 1 < c.end) {
              const uint32_t n1 = ascii_lower(c.cpt(pos + 1));
              if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') {
                pos += 2;
              } else if (pos + 2 < c.end) {
                const uint32_t n2 = ascii_lower(c.cpt(pos + 2));
                if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) pos += 3;
              }
            }
            c.emit(pos);
            continue;
          } else if (has_lead) {
            --pos;
          }
        }
        if (is_number(f)) {
          size_t ini = pos;
          while (is_number(c.flg(pos))) {
            if (++pos - ini >= 3) {
              c.emit(pos);
              ini = pos;
            }
          }
          c.emit(pos);
          continue;
        }
        auto other = [](uint16_t x) { return !(x & (kWhitespace | kLetter | kNumber)) && x != 0; };
        uint16_t f2 = (cpt == ' ') ? c.flg(pos + 1) : f;
        if (other(f2)) {
          pos += (cpt == ' ');
          while (other(f2)) f2 = c.flg(++pos);
          uint32_t cpt2 = c.cpt(pos);
          while (cpt2 == '\r' || cpt2 == '\n') cpt2 = c.cpt(++pos);
          c.emit(pos);
          continue;
        }
        size_t nws = 0, last_crlf_end = 0;
        while (is_ws(c.flg(pos + nws))) {
          const uint32_t cpt2 = c.cpt(pos + nws);
          if (cpt2 == '\r' || cpt2 == '\n') last_crlf_end = pos + nws + 1;
          ++nws;
        }
        if (last_crlf_end > 0) {
          pos = last_crlf_end;
          c.emit(pos);
          continue;
        }
        if (nws > 1 && c.cpt(pos + nws) != kOutOfRange) {
          pos += nws - 1;
          c.emit(pos);
          continue;
        }
        if (nws > 0) {
          pos += nws;
          c.emit(pos);
          continue;
        }
        c.emit(++pos);
      }
    }
  }
};

// AFMoE digits: a digit run splits into a leading 1-2 digits (length mod 3) then groups of 3.
class AfmoeDigitsStep : public SplitStep {
 public:
  void run(SplitText& t, const std::vector<uint32_t>& in, std::vector<uint32_t>& out) const override {
    size_t start = 0;
    for (uint32_t len : in) {
      Cursor c{t.cpts, t.fl.data(), start, start + len, start, &out};
      start += len;
      for (size_t pos = c.ini; pos < c.end;) {
        if (is_number(c.flg(pos))) {
          const size_t digit_start = pos;
          while (pos < c.end && is_number(c.flg(pos))) ++pos;
          const size_t count = pos - digit_start;
          size_t cur = digit_start;
          if (count % 3) {
            cur += count % 3;
            c.emit(cur);
          }
          while (cur < digit_start + count) {
            cur += 3;
            c.emit(cur);
          }
          continue;
        }
        ++pos;
      }
      if (c.prev_end < c.end) c.emit(c.end);
    }
  }
};

// \p{N}, \p{N}+ or \p{N}{1,3} alone (collapsed-text std::regex in llama.cpp): number runs are cut
// into pieces of at most `group` codepoints (0 = whole run); the text between becomes fragments.
class NumberRunStep : public SplitStep {
 public:
  explicit NumberRunStep(uint32_t group) : group_(group) {}
  void run(SplitText& t, const std::vector<uint32_t>& in, std::vector<uint32_t>& out) const override {
    size_t start = 0;
    for (uint32_t len : in) {
      const size_t end = start + len;
      size_t last = start;
      for (size_t pos = start; pos < end;) {
        if (!is_number(t.fl[pos])) {
          ++pos;
          continue;
        }
        if (pos > last) out.push_back(static_cast<uint32_t>(pos - last));
        size_t run_end = pos;
        while (run_end < end && is_number(t.fl[run_end])) ++run_end;
        while (pos < run_end) {
          const size_t piece = group_ == 0 ? run_end - pos : std::min<size_t>(group_, run_end - pos);
          out.push_back(static_cast<uint32_t>(piece));
          pos += piece;
        }
        last = pos;
      }
      if (end > last) out.push_back(static_cast<uint32_t>(end - last));
      start = end;
    }
  }

 private:
  uint32_t group_;
};

class GenericStep : public SplitStep {
 public:
  explicit GenericStep(const std::string& regex) : re_(detail::Regex::compile(regex)) {}
  void run(SplitText& t, const std::vector<uint32_t>& in, std::vector<uint32_t>& out) const override {
    const uint32_t* sym = t.symbols.get(re_->collapsed(), t.cpts, t.fl.data(), t.n);
    re_->split(sym, t.n, in, out);
  }

 private:
  std::unique_ptr<detail::Regex> re_;
};

const char* const kGpt2Regex = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const char* const kContr = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";

std::unique_ptr<SplitStep> make_step(const std::string& re) {
  if (re == kGpt2Regex) return std::make_unique<Gpt2Step>();
  const std::string contr = kContr;
  const std::string tail = "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  struct Known {
    std::string regex;
    Llama3Params p;
  };
  const Known known[] = {
      // llama3 (llama.cpp: hand-written), chatglm4, dbrx, smaug, jais-2 prefix...
      {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*" + tail,
       {true, false, 3, true}},
      {contr + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*" + tail, {true, false, 3, true}},
      // qwen2, stablelm2, hunyuan, grok-2, laguna's second ...
      {contr + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*" + tail, {true, false, 1, true}},
      // qwen35
      {contr + "|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*" + tail, {true, true, 1, true}},
      // seed-coder
      {contr + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+" + tail, {true, false, 1, false}},
      // bailingmoe
      {"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
       {true, false, 1, true}},
      // ufakzeka (no contractions)
      {"[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*" + tail, {false, false, 1, true}},
      // minicpm5's second regex
      {contr + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*" + tail, {true, false, 0, true}},
  };
  for (const Known& k : known) {
    if (re == k.regex) return std::make_unique<Llama3Step>(k.p);
  }
  if (re == "\\p{Han}+") return std::make_unique<KimiK2Step>();
  if (re == "\\p{AFMoE_digits}") return std::make_unique<AfmoeDigitsStep>();
  if (re == "\\p{N}") return std::make_unique<NumberRunStep>(1);
  if (re == "\\p{N}+") return std::make_unique<NumberRunStep>(0);
  if (re == "\\p{N}{1,3}") return std::make_unique<NumberRunStep>(3);
  return std::make_unique<GenericStep>(re);
}

}  // namespace

PreTokenizer::PreTokenizer(const std::vector<std::string>& regexes) {
  for (const std::string& re : regexes) steps_.push_back(make_step(re));
}

PreTokenizer::~PreTokenizer() = default;

void PreTokenizer::split(const uint32_t* cpts, size_t n, std::vector<uint32_t>& lengths) const {
  lengths.clear();
  if (n == 0) return;
  SplitText text;
  text.cpts = cpts;
  text.n = n;
  text.fl.resize(n);
  for (size_t i = 0; i < n; ++i) text.fl[i] = flags(cpts[i]);
  std::vector<uint32_t> cur{static_cast<uint32_t>(n)}, next;
  for (const auto& step : steps_) {
    next.clear();
    next.reserve(cur.size() + n / 4);
    step->run(text, cur, next);
    cur.swap(next);
  }
  lengths.swap(cur);
}

void set_regex_memo_always_for_test(bool on) { detail::g_memo_always = on; }

std::vector<uint32_t> split_generic_for_test(const std::string& regex, const uint32_t* cpts, size_t n) {
  SplitText text;
  text.cpts = cpts;
  text.n = n;
  text.fl.resize(n);
  for (size_t i = 0; i < n; ++i) text.fl[i] = flags(cpts[i]);
  GenericStep step(regex);
  std::vector<uint32_t> in{static_cast<uint32_t>(n)}, out;
  if (n == 0) in.clear();
  step.run(text, in, out);
  return out;
}

}  // namespace unicode
}  // namespace hb
