// Backtracking regex engine for the pre-tokenizer regexes that have no hand-written splitter.
// Semantics follow libstdc++'s std::regex in ECMAScript mode as llama.cpp drives it (see
// unicode_regex.h). The matcher runs on an explicit stack (no recursion per input symbol), turns
// single-class loops into one counted instruction, and switches on a visited-state memo when a
// search starts to backtrack heavily, so adversarial inputs cost O(pattern x text) instead of
// exponential time; a hard step cap turns anything still runaway into an error.
#include "unicode_regex.h"

#include <algorithm>
#include <cstring>

#include "error.h"
#include "unicode.h"

namespace hb {
namespace unicode {
namespace detail {

namespace {

constexpr uint32_t kInf = 0xFFFFFFFF;

[[noreturn]] void unsupported(const std::string& pattern, const std::string& why) {
  fail("UNSUPPORTED_TOKENIZER", "Expected a pre-tokenizer regex the engine supports but received '" + pattern + "' (" + why + ")");
}

}  // namespace

// A set of symbols: a bitmap for 0..255 and sorted ranges above; optionally intersected with
// another class (lookahead-then-class folding) and negated.
struct CharClass {
  uint64_t bits[4] = {0, 0, 0, 0};
  std::vector<std::pair<uint32_t, uint32_t>> high;  // inclusive ranges, all >= 256
  bool negated = false;
  int32_t also = -1;  // index of a class that must match too

  void add_range(uint32_t lo, uint32_t hi) {
    if (lo > hi) return;
    for (uint32_t c = lo; c <= hi && c < 256; ++c) bits[c >> 6] |= 1ull << (c & 63);
    if (hi >= 256) high.push_back({std::max<uint32_t>(lo, 256), hi});
  }
  void add(uint32_t c) { add_range(c, c); }
  bool raw_contains(uint32_t c) const {
    if (c < 256) return (bits[c >> 6] >> (c & 63)) & 1;
    // high is sorted and merged by finish(): binary search for the last range starting <= c
    size_t lo = 0, hi = high.size();
    while (lo < hi) {
      const size_t mid = (lo + hi) / 2;
      if (high[mid].first <= c) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo > 0 && c <= high[lo - 1].second;
  }
  void finish() {
    std::sort(high.begin(), high.end());
    std::vector<std::pair<uint32_t, uint32_t>> merged;
    for (const auto& r : high) {
      if (!merged.empty() && r.first <= merged.back().second + 1 && merged.back().second != kInf) {
        merged.back().second = std::max(merged.back().second, r.second);
      } else if (!merged.empty() && merged.back().second == kInf) {
        continue;
      } else {
        merged.push_back(r);
      }
    }
    high.swap(merged);
  }
};

namespace {

// ECMAScript class escapes with the "C" locale std::regex uses (ASCII-only classification).
void add_space(CharClass& c) {
  c.add_range(9, 13);
  c.add(' ');
}
void add_digit(CharClass& c) { c.add_range('0', '9'); }
void add_word(CharClass& c) {
  c.add_range('0', '9');
  c.add_range('A', 'Z');
  c.add_range('a', 'z');
  c.add('_');
}
// Complement of an ASCII set built by `add` (over the whole symbol space).
template <typename F>
void add_complement(CharClass& c, F add) {
  CharClass tmp;
  add(tmp);
  for (uint32_t s = 0; s < 256; ++s) {
    if (!tmp.raw_contains(s)) c.add(s);
  }
  c.add_range(256, kInf);
}

inline bool is_word_sym(uint32_t s) { return (s >= '0' && s <= '9') || (s >= 'A' && s <= 'Z') || (s >= 'a' && s <= 'z') || s == '_'; }

// ---- AST -------------------------------------------------------------------------------------

struct Node {
  enum Kind { Empty, Class, Seq, Alt, Repeat, Look, Bol, Eol, WordB } kind = Empty;
  int32_t cls = -1;                       // Class
  std::vector<std::unique_ptr<Node>> kids;  // Seq, Alt, Repeat (1), Look (1)
  uint32_t min = 0, max = 0;              // Repeat
  bool greedy = true;                     // Repeat
  bool neg = false;                       // Look, WordB
};
using NodeP = std::unique_ptr<Node>;

}  // namespace

// ---- program -----------------------------------------------------------------------------

enum Op : uint8_t { kOpClass, kOpRepeatClass, kOpSplit, kOpJmp, kOpBol, kOpEol, kOpWordB, kOpLook, kOpMatch };

struct Inst {
  Op op;
  bool flag;      // RepeatClass: greedy; WordB/Look: negated
  int32_t a, b;   // Class/RepeatClass: class; Split: preferred, other; Jmp: target; Look: program
  uint32_t min, max;
};

struct Program {
  std::vector<Inst> code;
  std::vector<int32_t> memo_slot;  // per instruction: index among branch points, -1 otherwise
  int32_t n_branch = 0;
};

class Compiler {
 public:
  Compiler(const std::string& pattern, const std::vector<uint32_t>& p, Regex& re) : pattern_(pattern), p_(p), re_(re) {}

  void build() {
    NodeP root = parse_disjunction();
    if (i_ != p_.size()) unsupported(pattern_, "unbalanced ')'");
    re_.progs_.push_back(std::make_unique<Program>());
    emit_program(*root, 0);
  }

  std::vector<CharClass> classes;

 private:
  const std::string& pattern_;
  const std::vector<uint32_t>& p_;
  Regex& re_;
  size_t i_ = 0;

  bool at_end() const { return i_ >= p_.size(); }
  uint32_t peek(size_t k = 0) const { return i_ + k < p_.size() ? p_[i_ + k] : kInf; }

  NodeP make(Node::Kind k) {
    NodeP n = std::make_unique<Node>();
    n->kind = k;
    return n;
  }
  NodeP make_class(CharClass c) {
    classes.push_back(std::move(c));
    NodeP n = make(Node::Class);
    n->cls = static_cast<int32_t>(classes.size() - 1);
    return n;
  }

  NodeP parse_disjunction() {
    std::vector<NodeP> alts;
    alts.push_back(parse_alternative());
    while (peek() == '|') {
      ++i_;
      alts.push_back(parse_alternative());
    }
    if (alts.size() == 1) return std::move(alts[0]);
    NodeP n = make(Node::Alt);
    n->kids = std::move(alts);
    return n;
  }

  NodeP parse_alternative() {
    NodeP seq = make(Node::Seq);
    while (!at_end() && peek() != '|' && peek() != ')') {
      NodeP term = parse_term();
      if (term) seq->kids.push_back(std::move(term));
    }
    fold_lookahead_classes(*seq);
    if (seq->kids.size() == 1) return std::move(seq->kids[0]);
    return seq;
  }

  // (?=[A])[B] consumes one symbol in A and B: fold it into one class, so loops over such pairs
  // (tekken, gpt-4o) become single-class loops.
  void fold_lookahead_classes(Node& seq) {
    for (size_t k = 0; k + 1 < seq.kids.size(); ++k) {
      Node* a = seq.kids[k].get();
      Node* b = single_class(seq.kids[k + 1].get());
      if (a->kind != Node::Look || a->neg || !b) continue;
      Node* inner = single_class(a->kids[0].get());
      if (!inner) continue;
      CharClass both = classes[b->cls];
      if (both.also >= 0) continue;
      both.also = inner->cls;
      NodeP folded = make_class(std::move(both));
      seq.kids[k] = std::move(folded);
      seq.kids.erase(seq.kids.begin() + static_cast<long>(k) + 1);
    }
  }

  static Node* single_class(Node* n) {
    while (n && n->kind == Node::Seq && n->kids.size() == 1) n = n->kids[0].get();
    return (n && n->kind == Node::Class) ? n : nullptr;
  }

  NodeP parse_term() {
    const uint32_t c = peek();
    NodeP atom;
    if (c == '^') {
      ++i_;
      return make(Node::Bol);
    }
    if (c == '$') {
      ++i_;
      return make(Node::Eol);
    }
    if (c == '\\' && (peek(1) == 'b' || peek(1) == 'B')) {
      NodeP n = make(Node::WordB);
      n->neg = peek(1) == 'B';
      i_ += 2;
      return n;
    }
    if (c == '(') {
      ++i_;
      bool look = false, neg = false;
      if (peek() == '?') {
        if (peek(1) == ':') {
          i_ += 2;
        } else if (peek(1) == '=' || peek(1) == '!') {
          look = true;
          neg = peek(1) == '!';
          i_ += 2;
        } else {
          unsupported(pattern_, "group type (?" + std::string(1, static_cast<char>(peek(1))) + " is not supported");
        }
      }
      NodeP inner = parse_disjunction();
      if (peek() != ')') unsupported(pattern_, "missing ')'");
      ++i_;
      if (look) {
        NodeP n = make(Node::Look);
        n->neg = neg;
        n->kids.push_back(std::move(inner));
        return n;  // quantified lookaheads are not used by any pre-tokenizer
      }
      atom = std::move(inner);
    } else if (c == '[') {
      ++i_;
      atom = make_class(parse_class());
    } else if (c == '.') {
      ++i_;
      CharClass cc;
      cc.add(10);
      cc.add(13);
      cc.add(0x2028);
      cc.add(0x2029);
      cc.negated = true;
      atom = make_class(std::move(cc));
    } else if (c == '\\') {
      ++i_;
      atom = make_class(parse_escape(false));
    } else if (c == '*' || c == '+' || c == '?' || c == ')') {
      unsupported(pattern_, "quantifier without operand");
    } else {
      ++i_;
      CharClass cc;
      cc.add(c);
      atom = make_class(std::move(cc));
    }
    return parse_quantifier(std::move(atom));
  }

  NodeP parse_quantifier(NodeP atom) {
    uint32_t lo = 1, hi = 1;
    const uint32_t c = peek();
    if (c == '*') {
      lo = 0, hi = kInf, ++i_;
    } else if (c == '+') {
      lo = 1, hi = kInf, ++i_;
    } else if (c == '?') {
      lo = 0, hi = 1, ++i_;
    } else if (c == '{') {
      size_t save = i_;
      ++i_;
      auto number = [&](uint32_t& out) {
        bool any = false;
        out = 0;
        while (peek() >= '0' && peek() <= '9') {
          out = out * 10 + (peek() - '0');
          if (out > 100000) unsupported(pattern_, "repeat count too large");
          ++i_;
          any = true;
        }
        return any;
      };
      if (!number(lo)) {
        i_ = save;
        unsupported(pattern_, "bad '{' quantifier");
      }
      hi = lo;
      if (peek() == ',') {
        ++i_;
        if (!number(hi)) hi = kInf;
      }
      if (peek() != '}' || hi < lo) unsupported(pattern_, "bad '{' quantifier");
      ++i_;
    } else {
      return atom;
    }
    bool greedy = true;
    if (peek() == '?') {
      greedy = false;
      ++i_;
    }
    NodeP n = make(Node::Repeat);
    n->min = lo;
    n->max = hi;
    n->greedy = greedy;
    n->kids.push_back(std::move(atom));
    return n;
  }

  // After a backslash (outside or inside a class). Class escapes return their set; the rest one
  // symbol. Inside a class \b is backspace.
  CharClass parse_escape(bool in_class) {
    if (at_end()) unsupported(pattern_, "trailing backslash");
    const uint32_t e = p_[i_++];
    CharClass cc;
    switch (e) {
      case 'd': add_digit(cc); break;
      case 'D': add_complement(cc, add_digit); break;
      case 's': add_space(cc); break;
      case 'S': add_complement(cc, add_space); break;
      case 'w': add_word(cc); break;
      case 'W': add_complement(cc, add_word); break;
      case 'n': cc.add(10); break;
      case 'r': cc.add(13); break;
      case 't': cc.add(9); break;
      case 'f': cc.add(12); break;
      case 'v': cc.add(11); break;
      case '0': cc.add(0); break;
      case 'b':
        if (!in_class) unsupported(pattern_, "\\b here");
        cc.add(8);
        break;
      case 'x':
      case 'u': {
        const int digits = e == 'x' ? 2 : 4;
        uint32_t v = 0;
        for (int k = 0; k < digits; ++k) {
          const uint32_t h = peek();
          int d = (h >= '0' && h <= '9') ? int(h - '0') : (h >= 'a' && h <= 'f') ? int(h - 'a' + 10) : (h >= 'A' && h <= 'F') ? int(h - 'A' + 10) : -1;
          if (d < 0) unsupported(pattern_, "bad hex escape");
          v = v * 16 + static_cast<uint32_t>(d);
          ++i_;
        }
        cc.add(v);
        break;
      }
      case 'p':
      case 'P':
        unsupported(pattern_, "unicode property escape outside llama.cpp's category set");
      default:
        if (e >= '1' && e <= '9') unsupported(pattern_, "back-references are not supported");
        cc.add(e);  // identity escape: \\ \. \$ \- \[ \] \' ...
    }
    return cc;
  }

  CharClass parse_class() {
    CharClass cc;
    if (peek() == '^') {
      cc.negated = true;
      ++i_;
    }
    bool first = true;
    while (true) {
      if (at_end()) unsupported(pattern_, "unterminated '['");
      uint32_t c = peek();
      if (c == ']' && !first) {
        ++i_;
        break;
      }
      if (c == ']') {  // "[]" / "[^]": not used by any pre-tokenizer
        unsupported(pattern_, "empty class");
      }
      first = false;
      // One class atom: a single symbol (lo) or a class escape (set).
      auto atom = [&](uint32_t& single, CharClass& set) -> bool {
        if (peek() == '\\') {
          ++i_;
          const uint32_t e = peek();
          set = parse_escape(true);
          const bool is_set = e == 'd' || e == 'D' || e == 's' || e == 'S' || e == 'w' || e == 'W';
          if (!is_set) {
            // single symbol: recover it from the set (exactly one member)
            for (uint32_t s = 0; s < 256; ++s) {
              if (set.raw_contains(s)) single = s;
            }
            if (!set.high.empty()) single = set.high[0].first;
          }
          return is_set;
        }
        single = p_[i_++];
        return false;
      };
      uint32_t lo = 0;
      CharClass set;
      if (atom(lo, set)) {
        merge(cc, set);
        continue;
      }
      if (peek() == '-' && peek(1) != ']' && peek(1) != kInf) {
        ++i_;
        uint32_t hi = 0;
        CharClass set2;
        if (atom(hi, set2)) unsupported(pattern_, "class escape as range end");
        if (hi < lo) unsupported(pattern_, "reversed range");
        cc.add_range(lo, hi);
      } else {
        cc.add(lo);
      }
    }
    return cc;
  }

  static void merge(CharClass& into, const CharClass& set) {
    for (int k = 0; k < 4; ++k) into.bits[k] |= set.bits[k];
    into.high.insert(into.high.end(), set.high.begin(), set.high.end());
  }

  static bool nullable(const Node& n) {
    switch (n.kind) {
      case Node::Class: return false;
      case Node::Seq:
        for (const auto& k : n.kids) {
          if (!nullable(*k)) return false;
        }
        return true;
      case Node::Alt:
        for (const auto& k : n.kids) {
          if (nullable(*k)) return true;
        }
        return false;
      case Node::Repeat: return n.min == 0 || nullable(*n.kids[0]);
      default: return true;
    }
  }

  void emit_program(const Node& root, size_t prog) {
    emit(root, prog);
    push(prog, {kOpMatch, false, 0, 0, 0, 0});
    Program& p = *re_.progs_[prog];
    p.memo_slot.assign(p.code.size(), -1);
    for (size_t k = 0; k < p.code.size(); ++k) {
      if (p.code[k].op == kOpSplit || p.code[k].op == kOpRepeatClass) p.memo_slot[k] = p.n_branch++;
    }
  }

  int32_t push(size_t prog, Inst in) {
    auto& code = re_.progs_[prog]->code;
    code.push_back(in);
    return static_cast<int32_t>(code.size() - 1);
  }
  Inst& at(size_t prog, int32_t k) { return re_.progs_[prog]->code[static_cast<size_t>(k)]; }
  int32_t here(size_t prog) const { return static_cast<int32_t>(re_.progs_[prog]->code.size()); }

  void emit(const Node& n, size_t prog) {
    switch (n.kind) {
      case Node::Empty: break;
      case Node::Class: push(prog, {kOpClass, false, n.cls, 0, 0, 0}); break;
      case Node::Seq:
        for (const auto& k : n.kids) emit(*k, prog);
        break;
      case Node::Alt: {
        std::vector<int32_t> jumps;
        for (size_t k = 0; k < n.kids.size(); ++k) {
          if (k + 1 < n.kids.size()) {
            const int32_t split = push(prog, {kOpSplit, false, 0, 0, 0, 0});
            at(prog, split).a = here(prog);
            emit(*n.kids[k], prog);
            jumps.push_back(push(prog, {kOpJmp, false, 0, 0, 0, 0}));
            at(prog, split).b = here(prog);
          } else {
            emit(*n.kids[k], prog);
          }
        }
        for (int32_t j : jumps) at(prog, j).a = here(prog);
        break;
      }
      case Node::Repeat: {
        const Node& body = *n.kids[0];
        if (const Node* sc = single_class(const_cast<Node*>(&body))) {
          push(prog, {kOpRepeatClass, n.greedy, sc->cls, 0, n.min, n.max});
          break;
        }
        if (n.max == kInf && nullable(body)) unsupported(pattern_, "unbounded repeat of an expression that can match empty");
        if (n.min > 1000 || (n.max != kInf && n.max - n.min > 1000)) unsupported(pattern_, "repeat count too large");
        for (uint32_t k = 0; k < n.min; ++k) emit(body, prog);
        if (n.max == kInf) {
          const int32_t loop = push(prog, {kOpSplit, false, 0, 0, 0, 0});
          const int32_t body_at = here(prog);
          emit(body, prog);
          push(prog, {kOpJmp, false, loop, 0, 0, 0});
          const int32_t exit = here(prog);
          at(prog, loop).a = n.greedy ? body_at : exit;
          at(prog, loop).b = n.greedy ? exit : body_at;
        } else if (n.max > n.min) {
          std::vector<int32_t> splits;
          for (uint32_t k = n.min; k < n.max; ++k) {
            const int32_t split = push(prog, {kOpSplit, false, 0, 0, 0, 0});
            splits.push_back(split);
            at(prog, split).a = here(prog);  // body (fixed below for lazy)
            emit(body, prog);
          }
          const int32_t exit = here(prog);
          for (int32_t s : splits) {
            const int32_t body_at = at(prog, s).a;
            at(prog, s).a = n.greedy ? body_at : exit;
            at(prog, s).b = n.greedy ? exit : body_at;
          }
        }
        break;
      }
      case Node::Look: {
        re_.progs_.push_back(std::make_unique<Program>());
        const size_t sub = re_.progs_.size() - 1;
        emit_program(*n.kids[0], sub);
        push(prog, {kOpLook, n.neg, static_cast<int32_t>(sub), 0, 0, 0});
        break;
      }
      case Node::Bol:
        re_.begin_dependent_ = true;
        push(prog, {kOpBol, false, 0, 0, 0, 0});
        break;
      case Node::Eol: push(prog, {kOpEol, false, 0, 0, 0, 0}); break;
      case Node::WordB:
        re_.begin_dependent_ = true;
        push(prog, {kOpWordB, n.neg, 0, 0, 0, 0});
        break;
    }
  }
};

// ---- matcher -------------------------------------------------------------------------------

bool g_memo_always = false;

namespace {

struct Frame {
  int32_t pc;      // Split: where to resume; RepeatClass: the instruction
  uint32_t pos;    // Split: position; RepeatClass: where the run started
  uint32_t count;  // RepeatClass: iterations taken now
  bool repeat;
};

// Flags of one libstdc++ executor run.
struct RunFlags {
  bool prev_avail;  // match_prev_avail
  bool not_null;    // match_not_null (inherited by lookaheads, as libstdc++ does)
};

}  // namespace

class Matcher {
 public:
  Matcher(const Regex& re, const std::vector<CharClass>& classes, const uint32_t* sym, size_t n)
      : re_(re), classes_(classes), sym_(sym) {
    // lookahead nesting never exceeds the program count: sized up front, never reallocated
    stacks_.resize(re.progs_.size() + 1);
    path_.resize(re.progs_.size() + 1);
  }

  // Starts a new fragment [b, e): the memo (if any) belongs to one fragment.
  void begin_fragment(size_t b, size_t e) {
    frag_base_ = b;
    frag_span_ = e - b + 1;
    frag_steps_ = steps_;
    memo_on_ = false;
  }

  // regex_search over [from, end): the leftmost start with a match (only `from` if continuous).
  bool search(size_t from, size_t end, RunFlags fl, bool continuous, size_t* ms, size_t* me) {
    for (size_t p = from;; ++p) {
      RunFlags f = fl;
      if (p > from) f.prev_avail = true;  // libstdc++ sets it after the first attempt
      // Heavy backtracking in this fragment (\s+$ or \s*[\r\n]+ over a long run of spaces,
      // superbpe's lookahead over a long number, ...): switch on the memo of failed states,
      // which makes the rest linear, and restart this search.
      if (!memo_on_ && (g_memo_always || steps_ - frag_steps_ > 64 * (frag_span_ + 16))) {
        memo_on_ = enable_memo();
        if (memo_on_) p = from, f = fl;
      }
      if (run(0, p, end, p, f, me)) {
        *ms = p;
        return true;
      }
      if (continuous || p >= end) return false;
    }
  }

 private:
  const Regex& re_;
  const std::vector<CharClass>& classes_;
  const uint32_t* sym_;
  uint64_t steps_ = 0;
  std::vector<std::vector<Frame>> stacks_;  // one per lookahead depth
  size_t depth_ = 0;
  // The memo: per program and per match_not_null setting, one bit per (branch instruction,
  // position) explored without success, for the current fragment. Only states away from the
  // executor's start position are recorded: nothing there depends on where the attempt began
  // (\b, ^ and match_prev_avail only look at that position), so a failure holds for every later
  // attempt and search in the fragment. States on the path of a successful run are unmarked
  // again; for lookahead bodies (where only success matters) they are remembered as successes.
  std::vector<std::vector<uint64_t>> memo_[2];
  std::vector<std::vector<uint64_t>> succ_[2];  // lookahead programs: states known to lead to success
  struct PathEntry {
    size_t bit;
    size_t height;  // backtrack stack height when the state was entered
  };
  std::vector<std::vector<PathEntry>> path_;  // per depth: explored states still on the current path
  size_t frag_base_ = 0, frag_span_ = 0;
  uint64_t frag_steps_ = 0;
  bool memo_on_ = false;

  bool enable_memo() {
    size_t total = 0;
    for (const auto& p : re_.progs_) total += 2 * frag_span_ * static_cast<size_t>(p->n_branch);
    if (total == 0 || total > (size_t(1) << 28)) return false;
    for (int k = 0; k < 2; ++k) {
      memo_[k].resize(re_.progs_.size());
      succ_[k].resize(re_.progs_.size());
      for (size_t pi = 0; pi < re_.progs_.size(); ++pi) {
        const size_t words = (frag_span_ * static_cast<size_t>(re_.progs_[pi]->n_branch) + 63) / 64;
        memo_[k][pi].assign(words, 0);
        succ_[k][pi].assign(pi == 0 ? 0 : words, 0);
      }
    }
    return true;
  }

  bool cls_match(int32_t k, uint32_t s) const {
    const CharClass* c = &classes_[static_cast<size_t>(k)];
    bool in = c->raw_contains(s) != c->negated;
    if (in && c->also >= 0) {
      const CharClass& a = classes_[static_cast<size_t>(c->also)];
      in = a.raw_contains(s) != a.negated;
    }
    return in;
  }

  bool word_at(size_t x, size_t begin, bool prev_avail, size_t end) const {
    const bool left = (x != begin || prev_avail) && x > 0 && is_word_sym(sym_[x - 1]);
    const bool right = x < end && is_word_sym(sym_[x]);
    return left != right;
  }

  // One executor: program `pi` anchored at `start` (its _M_begin is `begin`).
  bool run(size_t pi, size_t start, size_t end, size_t begin, RunFlags fl, size_t* match_end) {
    const Program& prog = *re_.progs_[pi];
    std::vector<Frame>& stack = stacks_[depth_];
    std::vector<PathEntry>& path = path_[depth_];
    const bool memo = memo_on_;
    std::vector<uint64_t>* bits_p = memo ? &memo_[fl.not_null ? 1 : 0][pi] : nullptr;
    std::vector<uint64_t>* succ_p = memo && pi != 0 ? &succ_[fl.not_null ? 1 : 0][pi] : nullptr;
    const size_t stack_base = stack.size(), path_base = path.size();
    auto bit_of = [&](int32_t pc, size_t x) {
      return static_cast<size_t>(prog.memo_slot[static_cast<size_t>(pc)]) * frag_span_ + (x - frag_base_);
    };
    auto test = [](const std::vector<uint64_t>* v, size_t bit) { return v && (((*v)[bit >> 6] >> (bit & 63)) & 1) != 0; };
    enum Seen { kFresh, kFailed, kSucceeded };
    auto seen = [&](int32_t pc, size_t x) {
      if (!memo || x == begin) return kFresh;
      const size_t bit = bit_of(pc, x);
      return test(succ_p, bit) ? kSucceeded : test(bits_p, bit) ? kFailed : kFresh;
    };
    // Enters state (pc, x): marks it explored and puts it on the path.
    auto enter = [&](int32_t pc, size_t x) {
      if (!memo || x == begin) return;
      const size_t bit = bit_of(pc, x);
      (*bits_p)[bit >> 6] |= 1ull << (bit & 63);
      path.push_back({bit, stack.size()});
    };
    // Backtracking to stack height h leaves the states entered above it.
    auto unwind_path = [&](size_t h) {
      while (path.size() > path_base && path.back().height > h) path.pop_back();
    };
    auto finish = [&](bool r) {
      if (r && memo) {
        for (size_t k = path_base; k < path.size(); ++k) {
          const size_t bit = path[k].bit;
          (*bits_p)[bit >> 6] &= ~(1ull << (bit & 63));
          if (succ_p) (*succ_p)[bit >> 6] |= 1ull << (bit & 63);
        }
      }
      path.resize(path_base);
      stack.resize(stack_base);
      return r;
    };
    int32_t pc = 0;
    size_t pos = start;
    while (true) {
      if (++steps_ > kStepCap) {
        fail("TOKENIZER_LIMIT", "Expected text the pre-tokenizer can split in bounded time but received input that makes its regex backtrack without end");
      }
      const Inst& in = prog.code[static_cast<size_t>(pc)];
      bool ok = true;
      if (in.op == kOpSplit) {
        const Seen sn = seen(pc, pos);
        if (sn == kSucceeded) return finish(true);  // lookahead bodies only: known to succeed
        if (sn == kFailed) {
          ok = false;
        } else {
          enter(pc, pos);
        }
      }
      if (ok) {
        switch (in.op) {
          case kOpClass:
            if (pos < end && cls_match(in.a, sym_[pos])) {
              ++pos;
              ++pc;
            } else {
              ok = false;
            }
            break;
          case kOpRepeatClass: {
            if (in.flag) {  // greedy: take as many as possible, give back on failure
              // With the memo, an unbounded loop's states are its positions after >= min
              // iterations: stop before the first one already explored (everything from there
              // failed), and record each as its exit is tried (deepest first).
              const bool loop_memo = memo && in.max == kInf;
              uint32_t cnt = 0;
              bool known_success = false;
              while (cnt < in.max && pos + cnt < end) {
                if (loop_memo && cnt >= in.min) {
                  const Seen sn = seen(pc, pos + cnt);
                  if (sn == kSucceeded) {
                    known_success = true;
                    break;
                  }
                  if (sn == kFailed) {
                    if (cnt == in.min) ok = false;
                    --cnt;
                    break;
                  }
                }
                if (!cls_match(in.a, sym_[pos + cnt])) break;
                ++cnt;
              }
              steps_ += cnt;
              if (known_success) return finish(true);
              if (!ok || cnt < in.min) {
                ok = false;
                break;
              }
              if (loop_memo) {  // the state where the scan ended
                const Seen sn = seen(pc, pos + cnt);
                if (sn == kSucceeded) return finish(true);
                if (sn == kFailed) {
                  if (cnt == in.min) {
                    ok = false;
                    break;
                  }
                  --cnt;
                }
                enter(pc, pos + cnt);
              }
              if (cnt > in.min) stack.push_back({pc, static_cast<uint32_t>(pos), cnt, true});
              pos += cnt;
              ++pc;
            } else {  // lazy: take the minimum, extend on failure
              uint32_t cnt = 0;
              while (cnt < in.min && pos + cnt < end && cls_match(in.a, sym_[pos + cnt])) ++cnt;
              steps_ += cnt;
              if (cnt < in.min) {
                ok = false;
                break;
              }
              if (cnt < in.max) stack.push_back({pc, static_cast<uint32_t>(pos), cnt, true});
              pos += cnt;
              ++pc;
            }
            break;
          }
          case kOpSplit:
            stack.push_back({in.b, static_cast<uint32_t>(pos), 0, false});
            pc = in.a;
            break;
          case kOpJmp: pc = in.a; break;
          case kOpBol:
            if (pos == begin && !fl.prev_avail) {
              ++pc;
            } else {
              ok = false;
            }
            break;
          case kOpEol:
            if (pos == end) {
              ++pc;
            } else {
              ok = false;
            }
            break;
          case kOpWordB:
            if (word_at(pos, begin, fl.prev_avail, end) != in.flag) {
              ++pc;
            } else {
              ok = false;
            }
            break;
          case kOpLook: {
            ++depth_;
            size_t unused = 0;
            const bool r = run(static_cast<size_t>(in.a), pos, end, pos, fl, &unused);
            --depth_;
            if (r != in.flag) {
              ++pc;
            } else {
              ok = false;
            }
            break;
          }
          case kOpMatch:
            if (fl.not_null && pos == begin) {
              ok = false;
            } else {
              *match_end = pos;
              return finish(true);
            }
            break;
        }
      }
      if (ok) continue;
      // backtrack
      while (true) {
        if (stack.size() == stack_base) return finish(false);
        Frame& f = stack.back();
        if (!f.repeat) {
          pc = f.pc;
          pos = f.pos;
          stack.pop_back();
          unwind_path(stack.size());
          break;
        }
        const Inst& r = prog.code[static_cast<size_t>(f.pc)];
        if (r.flag) {  // greedy: one fewer
          const size_t h = stack.size() - 1;  // this frame's index: its loop states were entered at h
          while (path.size() > path_base && path.back().height >= h) path.pop_back();
          --f.count;
          pos = f.pos + f.count;
          pc = f.pc + 1;
          const bool last = f.count <= r.min;
          if (last) stack.pop_back();
          if (memo && r.max == kInf) {
            const Seen sn = seen(f.pc, pos);
            if (sn == kSucceeded) return finish(true);
            if (sn == kFailed) continue;  // this exit was explored before
            if (pos != begin) {
              const size_t bit = bit_of(f.pc, pos);
              (*bits_p)[bit >> 6] |= 1ull << (bit & 63);
              path.push_back({bit, h});
            }
          }
          break;
        }
        // lazy: one more, if the class allows
        const size_t p = f.pos + f.count;
        if (f.count < r.max && p < end && cls_match(r.a, sym_[p])) {
          ++f.count;
          pos = f.pos + f.count;
          pc = f.pc + 1;
          if (f.count >= r.max) stack.pop_back();
          break;
        }
        stack.pop_back();
      }
    }
  }

  static constexpr uint64_t kStepCap = 4000000000ull;
};

Regex::~Regex() = default;

namespace {

// llama.cpp's k_ucat_enum / k_ucat_cpt / k_ucat_map: \p{..} -> collapsed category byte + the
// ASCII members (as regex text). Note: '~' is missing from \p{S} there, so it is here too.
struct UCat {
  const char* name;
  char byte;
  const char* ascii;
};
const UCat kUCats[] = {
    {"\\p{N}", '\xD1', "0-9"},
    {"\\p{L}", '\xD2', "A-Za-z"},
    {"\\p{P}", '\xD3', "!-#%-*,-/:-;?-@\\[-\\]_\\{\\}"},
    {"\\p{M}", '\xD4', ""},
    {"\\p{S}", '\xD5', "\\$\\+<->^`\\|"},
    {"\\p{Lu}", '\xD2', "A-Za-z"},
    {"\\p{Ll}", '\xD2', "A-Za-z"},
    {"\\p{Lt}", '\xD2', "A-Za-z"},
    {"\\p{Lm}", '\xD2', "A-Za-z"},
    {"\\p{Lo}", '\xD2', "A-Za-z"},
};

}  // namespace

std::unique_ptr<Regex> Regex::compile(const std::string& pattern) {
  std::unique_ptr<Regex> re(new Regex());
  for (const UCat& u : kUCats) {
    if (pattern.find(u.name) != std::string::npos) re->collapsed_ = true;
  }
  std::vector<uint32_t> p;
  if (re->collapsed_) {
    for (unsigned char ch : pattern) {
      if (ch >= 0x80) unsupported(pattern, "unicode categories mixed with non-ASCII characters");
    }
    // Rewrite \p{X} into collapsed-alphabet class members, tracking [..] as llama.cpp does.
    std::string out;
    bool inside = false;
    for (size_t i = 0; i < pattern.size(); ++i) {
      if (pattern[i] == '[' && (i == 0 || pattern[i - 1] != '\\')) {
        out += '[';
        inside = true;
        continue;
      }
      if (inside && pattern[i] == ']' && pattern[i - 1] != '\\') {
        out += ']';
        inside = false;
        continue;
      }
      if (pattern[i] == '\\' && i + 3 < pattern.size() && pattern[i + 1] == 'p' && pattern[i + 2] == '{') {
        const size_t close = pattern.find('}', i + 3);
        if (close != std::string::npos && close <= i + 10) {
          const std::string name = pattern.substr(i, close - i + 1);
          const UCat* hit = nullptr;
          for (const UCat& u : kUCats) {
            if (name == u.name) hit = &u;
          }
          if (hit) {
            if (!inside) out += '[';
            out += hit->byte;
            out += hit->ascii;
            if (!inside) out += ']';
            i = close;
            continue;
          }
        }
      }
      out += pattern[i];
    }
    for (unsigned char ch : out) p.push_back(ch);
  } else {
    size_t pos = 0;
    while (pos < pattern.size()) p.push_back(decode_utf8(pattern.data(), pattern.size(), &pos));
  }
  Compiler c(pattern, p, *re);
  c.build();
  re->classes_ = std::move(c.classes);
  for (CharClass& cc : re->classes_) cc.finish();
  return re;
}

void Regex::split(const uint32_t* sym, size_t n, const std::vector<uint32_t>& in, std::vector<uint32_t>& out) const {
  Matcher m(*this, classes_, sym, n);
  size_t start = 0;
  for (uint32_t len : in) {
    const size_t b = start, e = start + len;
    start = e;
    size_t last = b, ms = 0, me = 0;
    m.begin_fragment(b, e);
    bool have = m.search(b, e, {false, false}, false, &ms, &me);
    while (have) {
      if (ms > last) out.push_back(static_cast<uint32_t>(ms - last));
      out.push_back(static_cast<uint32_t>(me - ms));
      last = me;
      size_t from = me;
      if (me == ms) {  // empty match: a non-empty one right here, else search from the next symbol
        if (me == e) break;
        if (m.search(me, e, {true, true}, true, &ms, &me)) continue;
        from = me + 1;
      }
      have = m.search(from, e, {true, false}, false, &ms, &me);
    }
    if (e > last) out.push_back(static_cast<uint32_t>(e - last));
  }
}

const uint32_t* SymbolCache::get(bool collapsed, const uint32_t* cpts, const uint16_t* fl, size_t n) {
  if (collapsed) {
    if (!have_collapsed_) {
      collapsed_.resize(n);
      for (size_t i = 0; i < n; ++i) {
        const uint32_t cp = cpts[i];
        if (cp < 128) {
          collapsed_[i] = cp;
          continue;
        }
        const uint16_t f = fl[i];
        uint32_t s = 0xD0;  // other categories
        if (f & kWhitespace) {
          s = 0x0B;  // \v: what std::regex's \s recognizes
        } else {
          switch (f & kCategoryMask) {
            case kNumber: s = 0xD1; break;
            case kLetter: s = 0xD2; break;
            case kPunctuation: s = 0xD3; break;
            case kMark: s = 0xD4; break;
            case kSymbol: s = 0xD5; break;
            default: break;
          }
        }
        collapsed_[i] = s;
      }
      have_collapsed_ = true;
    }
    return collapsed_.data();
  }
  if (!have_wide_) {
    wide_.resize(n);
    for (size_t i = 0; i < n; ++i) wide_[i] = (cpts[i] > 0x7F && (fl[i] & kWhitespace)) ? 0x0B : cpts[i];
    have_wide_ = true;
  }
  return wide_.data();
}

}  // namespace detail
}  // namespace unicode
}  // namespace hb
