// GBNF grammars (grammar.h): parser, pushdown matcher over code points, vocabulary masks.
#include "grammar.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <set>

#include "error.h"
#include "tokenizer.h"

namespace hb {

// ---------------------------------------------------------------------------------------------
// Character sets

bool CharSet::contains(uint32_t c) const {
  bool in = false;
  for (const auto& r : ranges) in = in || (c >= r.first && c <= r.second);
  return in != negated;
}

bool CharSet::intersects(uint32_t lo, uint32_t hi) const {
  if (!negated) {
    for (const auto& r : ranges)
      if (r.first <= hi && r.second >= lo) return true;
    return false;
  }
  // Negated: some point of [lo, hi] outside every range. Walk the covered prefix (the ranges
  // are sorted and merged when the set is made).
  uint32_t next = lo;
  for (const auto& r : ranges) {
    if (r.second < next) continue;
    if (r.first > next) return true;
    if (r.second >= hi) return false;
    next = r.second + 1;
  }
  return next <= hi;
}

// ---------------------------------------------------------------------------------------------
// Parser: GBNF as llama.cpp's grammar parser reads it.
//   rule      ::= name ws "::=" ws alternates (newline | end)
//   alternates::= sequence ("|" ws sequence)*         (newlines allowed after "|" and in groups)
//   sequence  ::= (item repetition?)*
//   item      ::= "literal" | [class] | [^class] | . | name | ( alternates )
//   repetition::= * | + | ? | {m} | {m,} | {m,n}
// Comments run from # to the end of the line.

namespace {

class Parser {
 public:
  Parser(const std::string& text, Grammar& g) : s_(text), g_(g) {}

  void parse_all() {
    pos_ = skip_space(0, true);
    if (pos_ >= s_.size()) error(pos_, "an empty grammar (expected at least one rule)");
    while (pos_ < s_.size()) {
      size_t name_at = pos_;
      std::string name = parse_name();
      if (name.empty()) error(pos_, "expected a rule name");
      pos_ = skip_space(pos_, false);
      if (s_.compare(pos_, 3, "::=") != 0) error(pos_, "expected ::= after the rule name " + name);
      pos_ = skip_space(pos_ + 3, true);
      const uint32_t id = rule_id(name, name_at);
      if (defined_.count(id)) error(name_at, "rule " + name + " is defined twice");
      defined_.insert(id);
      g_.rules[id].alts = parse_alternates(name, false);
      if (pos_ < s_.size()) {
        if (s_[pos_] == '\r' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '\n') pos_++;
        if (s_[pos_] != '\n') error(pos_, "expected the end of the line after the rule " + name);
      }
      pos_ = skip_space(pos_, true);
    }
    for (const auto& ref : first_ref_)
      if (!defined_.count(ref.first)) error(ref.second, "undefined rule " + g_.rules[ref.first].name);
  }

  [[noreturn]] void error(size_t at, const std::string& what) const {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < at && i < s_.size(); i++) {
      if (s_[i] == '\n') line++, col = 1;
      else if ((static_cast<unsigned char>(s_[i]) & 0xC0) != 0x80) col++;
    }
    fail("GRAMMAR_SYNTAX", "Invalid grammar: " + what + " at line " + std::to_string(line) + ", column " + std::to_string(col));
  }

  std::map<std::string, uint32_t> names_;

 private:
  static bool word_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  }

  size_t skip_space(size_t p, bool newline_ok) const {
    while (p < s_.size()) {
      const char c = s_[p];
      if (c == ' ' || c == '\t') p++;
      else if (c == '#') {
        while (p < s_.size() && s_[p] != '\n') p++;
      } else if (newline_ok && (c == '\n' || c == '\r')) p++;
      else break;
    }
    return p;
  }

  std::string parse_name() {
    size_t b = pos_;
    while (pos_ < s_.size() && word_char(s_[pos_])) pos_++;
    return s_.substr(b, pos_ - b);
  }

  uint32_t rule_id(const std::string& name, size_t at) {
    auto it = names_.find(name);
    if (it != names_.end()) return it->second;
    const uint32_t id = static_cast<uint32_t>(g_.rules.size());
    g_.rules.push_back({name, {}});
    names_[name] = id;
    first_ref_.emplace_back(id, at);
    return id;
  }

  uint32_t new_rule(const std::string& base) {
    const uint32_t id = static_cast<uint32_t>(g_.rules.size());
    g_.rules.push_back({base + "_" + std::to_string(id), {}});
    defined_.insert(id);
    return id;
  }

  // One UTF-8 code point at pos_ (advanced past it).
  uint32_t decode_utf8() {
    const unsigned char c = static_cast<unsigned char>(s_[pos_]);
    const int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || pos_ + static_cast<size_t>(n) > s_.size()) error(pos_, "invalid UTF-8");
    uint32_t v = n == 1 ? c : c & (0x7F >> n);
    for (int i = 1; i < n; i++) {
      const unsigned char d = static_cast<unsigned char>(s_[pos_ + i]);
      if ((d & 0xC0) != 0x80) error(pos_, "invalid UTF-8");
      v = (v << 6) | (d & 0x3F);
    }
    pos_ += static_cast<size_t>(n);
    return v;
  }

  uint32_t parse_hex(int digits) {
    uint32_t v = 0;
    for (int i = 0; i < digits; i++) {
      if (pos_ >= s_.size()) error(pos_, "expected " + std::to_string(digits) + " hex digits");
      const char c = s_[pos_];
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (d < 0) error(pos_, "expected a hex digit");
      v = v * 16 + static_cast<uint32_t>(d);
      pos_++;
    }
    return v;
  }

  // A character of a literal or class (escapes included); pos_ at it.
  uint32_t parse_char(const char* context) {
    if (pos_ >= s_.size()) error(pos_, std::string("an unterminated ") + context);
    if (s_[pos_] != '\\') return decode_utf8();
    const size_t at = pos_++;
    if (pos_ >= s_.size()) error(at, std::string("an unterminated ") + context);
    const char e = s_[pos_++];
    switch (e) {
      case 'x': return parse_hex(2);
      case 'u': return parse_hex(4);
      case 'U': return parse_hex(8);
      case 't': return '\t';
      case 'r': return '\r';
      case 'n': return '\n';
      case '\\': case '"': case '[': case ']': case '-': case '^': case '/': case '.': return static_cast<uint32_t>(e);
      default: error(at, std::string("an unknown escape \\") + e);
    }
  }

  uint32_t add_set(CharSet cs) {
    // sorted and merged, so membership and overlap tests walk them once
    std::sort(cs.ranges.begin(), cs.ranges.end());
    std::vector<std::pair<uint32_t, uint32_t>> merged;
    for (const auto& r : cs.ranges) {
      if (!merged.empty() && r.first <= merged.back().second + 1) merged.back().second = std::max(merged.back().second, r.second);
      else merged.push_back(r);
    }
    cs.ranges = std::move(merged);
    g_.sets.push_back(std::move(cs));
    return static_cast<uint32_t>(g_.sets.size() - 1);
  }

  std::vector<std::vector<GrammarElem>> parse_alternates(const std::string& rule, bool nested) {
    std::vector<std::vector<GrammarElem>> alts;
    alts.push_back(parse_sequence(rule, nested));
    while (pos_ < s_.size() && s_[pos_] == '|') {
      pos_ = skip_space(pos_ + 1, true);
      alts.push_back(parse_sequence(rule, nested));
    }
    return alts;
  }

  std::vector<GrammarElem> parse_sequence(const std::string& rule, bool nested) {
    std::vector<GrammarElem> seq;
    size_t last_start = 0;  // index in seq of the last item (for repetitions)
    bool have_item = false;
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      const size_t item_at = pos_;
      if (c == '"') {
        pos_++;
        last_start = seq.size();
        while (true) {
          if (pos_ >= s_.size() || s_[pos_] == '\n') error(item_at, "an unterminated string literal");
          if (s_[pos_] == '"') break;
          const uint32_t cp = parse_char("string literal");
          CharSet cs;
          cs.ranges.push_back({cp, cp});
          seq.push_back({GrammarElem::Kind::Chars, add_set(std::move(cs))});
        }
        pos_++;
        if (seq.size() == last_start) {  // "" matches the empty string
          have_item = false;
          pos_ = skip_space(pos_, nested);
          continue;
        }
        // A multi-character literal repeats as a whole: wrap it when an operator follows.
        if (seq.size() - last_start > 1 && pos_ < s_.size() && std::string("*+?{").find(s_[pos_]) != std::string::npos) {
          const uint32_t r = new_rule(rule);
          g_.rules[r].alts = {std::vector<GrammarElem>(seq.begin() + static_cast<long>(last_start), seq.end())};
          seq.resize(last_start);
          seq.push_back({GrammarElem::Kind::Rule, r});
        }
        have_item = true;
      } else if (c == '[') {
        pos_++;
        CharSet cs;
        if (pos_ < s_.size() && s_[pos_] == '^') cs.negated = true, pos_++;
        while (true) {
          if (pos_ >= s_.size()) error(item_at, "an unterminated character class");
          if (s_[pos_] == ']') break;
          const uint32_t lo = parse_char("character class");
          uint32_t hi = lo;
          if (pos_ + 1 < s_.size() && s_[pos_] == '-' && s_[pos_ + 1] != ']') {
            pos_++;
            hi = parse_char("character class");
            if (hi < lo) error(item_at, "a character range whose end comes before its start");
          }
          cs.ranges.push_back({lo, hi});
        }
        pos_++;
        last_start = seq.size();
        seq.push_back({GrammarElem::Kind::Chars, add_set(std::move(cs))});
        have_item = true;
      } else if (c == '.') {
        pos_++;
        CharSet cs;
        cs.negated = true;  // nothing excluded: any character
        last_start = seq.size();
        seq.push_back({GrammarElem::Kind::Chars, add_set(std::move(cs))});
        have_item = true;
      } else if (word_char(c)) {
        std::string name = parse_name();
        // A name followed by ::= starts the next rule: this sequence is over.
        size_t after = skip_space(pos_, false);
        if (!nested && s_.compare(after, 3, "::=") == 0) {
          pos_ = item_at;
          break;
        }
        last_start = seq.size();
        seq.push_back({GrammarElem::Kind::Rule, rule_id(name, item_at)});
        have_item = true;
      } else if (c == '(') {
        pos_ = skip_space(pos_ + 1, true);
        const uint32_t r = new_rule(rule);
        g_.rules[r].alts = parse_alternates(rule, true);
        if (pos_ >= s_.size() || s_[pos_] != ')') error(item_at, "an unclosed parenthesis");
        pos_++;
        last_start = seq.size();
        seq.push_back({GrammarElem::Kind::Rule, r});
        have_item = true;
      } else if (c == '*' || c == '+' || c == '?' || c == '{') {
        if (!have_item) error(item_at, std::string("a repetition operator ") + c + " without an item before it");
        apply_repetition(rule, seq, last_start);
        have_item = false;  // x** is an error, as in llama.cpp
      } else {
        break;
      }
      pos_ = skip_space(pos_, nested);
    }
    return seq;
  }

  // seq[last] (one element) repeated as the operator at pos_ says.
  void apply_repetition(const std::string& rule, std::vector<GrammarElem>& seq, size_t last) {
    const size_t at = pos_;
    const GrammarElem item = seq[last];
    seq.resize(last);
    int64_t min = 0, max = -1;  // -1: unbounded
    const char op = s_[pos_++];
    if (op == '*') min = 0, max = -1;
    else if (op == '+') min = 1, max = -1;
    else if (op == '?') min = 0, max = 1;
    else {
      pos_ = skip_space(pos_, false);
      auto number = [&]() -> int64_t {
        size_t b = pos_;
        int64_t v = 0;
        while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
          v = v * 10 + (s_[pos_++] - '0');
          if (v > 100000) error(b, "a repetition count over 100000");
        }
        if (pos_ == b) error(b, "expected a number in {m,n}");
        return v;
      };
      min = number();
      pos_ = skip_space(pos_, false);
      if (pos_ < s_.size() && s_[pos_] == ',') {
        pos_ = skip_space(pos_ + 1, false);
        if (pos_ < s_.size() && s_[pos_] == '}') max = -1;
        else max = number();
        pos_ = skip_space(pos_, false);
      } else {
        max = min;
      }
      if (pos_ >= s_.size() || s_[pos_] != '}') error(at, "an unclosed {m,n} repetition");
      pos_++;
      if (max >= 0 && max < min) error(at, "a repetition {m,n} with n < m");
    }
    for (int64_t i = 0; i < min; i++) seq.push_back(item);
    if (max < 0) {
      // R ::= item R | (empty)
      const uint32_t r = new_rule(rule);
      g_.rules[r].alts = {{item, {GrammarElem::Kind::Rule, r}}, {}};
      seq.push_back({GrammarElem::Kind::Rule, r});
    } else if (max > min) {
      // O_1 ::= item O_2 | (empty) ... O_k ::= item | (empty): up to max - min more
      uint32_t inner = UINT32_MAX;
      for (int64_t i = 0; i < max - min; i++) {
        const uint32_t r = new_rule(rule);
        std::vector<GrammarElem> one = {item};
        if (inner != UINT32_MAX) one.push_back({GrammarElem::Kind::Rule, inner});
        g_.rules[r].alts = {one, {}};
        inner = r;
      }
      seq.push_back({GrammarElem::Kind::Rule, inner});
    }
  }

  const std::string& s_;
  Grammar& g_;
  size_t pos_ = 0;
  std::set<uint32_t> defined_;
  std::vector<std::pair<uint32_t, size_t>> first_ref_;  // rule id, where first named
};

// Rules that can match the empty string, then left recursion (a rule reachable from itself
// through nullable prefixes), which would make the matcher expand forever.
void check_left_recursion(const Grammar& g, const std::function<void(const std::string&)>& report) {
  const size_t n = g.rules.size();
  std::vector<char> nullable(n, 0);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < n; r++) {
      if (nullable[r]) continue;
      for (const auto& alt : g.rules[r].alts) {
        bool all = true;
        for (const GrammarElem& e : alt) all = all && e.kind == GrammarElem::Kind::Rule && nullable[e.id];
        if (all) {
          nullable[r] = 1;
          changed = true;
          break;
        }
      }
    }
  }
  // first[r]: rules that can come first in r.
  std::vector<std::vector<uint32_t>> first(n);
  for (size_t r = 0; r < n; r++)
    for (const auto& alt : g.rules[r].alts)
      for (const GrammarElem& e : alt) {
        if (e.kind != GrammarElem::Kind::Rule) break;
        first[r].push_back(e.id);
        if (!nullable[e.id]) break;
      }
  std::vector<int> mark(n, 0);  // 0 new, 1 on the path, 2 done
  std::function<void(uint32_t)> visit = [&](uint32_t r) {
    mark[r] = 1;
    for (uint32_t s : first[r]) {
      if (mark[s] == 1) report(g.rules[s].name);
      if (mark[s] == 0) visit(s);
    }
    mark[r] = 2;
  };
  for (size_t r = 0; r < n; r++)
    if (mark[r] == 0) visit(static_cast<uint32_t>(r));
}

}  // namespace

std::shared_ptr<const Grammar> Grammar::parse(const std::string& text, const std::string& root) {
  auto g = std::make_shared<Grammar>();
  if (text.size() > (size_t(1) << 24)) fail("GRAMMAR_SYNTAX", "Invalid grammar: it is over 16 MiB");
  Parser p(text, *g);
  p.parse_all();
  g->n_written_rules = p.names_.size();
  auto it = p.names_.find(root);
  if (it == p.names_.end()) p.error(text.size(), "no rule named " + root);
  g->root = it->second;
  check_left_recursion(*g, [&](const std::string& name) {
    fail("GRAMMAR_SYNTAX", "Invalid grammar: rule " + name + " is left-recursive (it can start with itself)");
  });
  if (g->rules.size() > 200000) fail("GRAMMAR_SYNTAX", "Invalid grammar: over 200000 rules after expanding repetitions");
  return g;
}

// ---------------------------------------------------------------------------------------------
// Token trie

std::shared_ptr<const TokenTrie> TokenTrie::build(const Tokenizer& tok) {
  std::vector<std::string> pieces(static_cast<size_t>(tok.n_vocab()));
  std::vector<int32_t> eog;
  for (int32_t id = 0; id < tok.n_vocab(); id++) {
    if (tok.is_eog(id)) {
      eog.push_back(id);
      continue;
    }
    const TokenAttr a = tok.attr(id);
    if (a == TokenAttr::Control || a == TokenAttr::Unused) continue;
    pieces[static_cast<size_t>(id)] = tok.token_to_piece(id, false);
  }
  return from_pieces(std::move(pieces), std::move(eog));
}

std::shared_ptr<const TokenTrie> TokenTrie::from_pieces(std::vector<std::string> pieces, std::vector<int32_t> eog) {
  auto t = std::make_shared<TokenTrie>();
  t->n_vocab = static_cast<int32_t>(pieces.size());
  t->eog = std::move(eog);
  std::sort(t->eog.begin(), t->eog.end());
  std::vector<std::pair<std::string, int32_t>> order;
  for (int32_t id = 0; id < t->n_vocab; id++)
    if (!pieces[static_cast<size_t>(id)].empty()) order.emplace_back(pieces[static_cast<size_t>(id)], id);
  t->pieces = std::move(pieces);
  std::sort(order.begin(), order.end());
  // Depth first from the sorted list: tokens order[lo, hi) share their first `depth` bytes.
  std::function<void(size_t, size_t, size_t, uint8_t)> build = [&](size_t lo, size_t hi, size_t depth, uint8_t byte) {
    const size_t self = t->nodes.size();
    t->nodes.push_back(TokenTrie::Node{});
    t->nodes[self].byte = byte;
    size_t i = lo;
    const int32_t first_id = static_cast<int32_t>(t->ids.size());
    while (i < hi && order[i].first.size() == depth) t->ids.push_back(order[i++].second);
    if (static_cast<int32_t>(t->ids.size()) > first_id) {
      t->nodes[self].first_token = first_id;
      t->nodes[self].n_tokens = static_cast<int32_t>(t->ids.size()) - first_id;
    }
    while (i < hi) {
      const uint8_t b = static_cast<uint8_t>(order[i].first[depth]);
      size_t j = i;
      while (j < hi && static_cast<uint8_t>(order[j].first[depth]) == b) j++;
      build(i, j, depth + 1, b);
      i = j;
    }
    t->nodes[self].end = static_cast<uint32_t>(t->nodes.size());
  };
  build(0, order.size(), 0, 0);
  return t;
}

// ---------------------------------------------------------------------------------------------
// Matcher states

GrammarVocab::GrammarVocab(std::shared_ptr<const Grammar> g, std::shared_ptr<const TokenTrie> trie)
    : g_(std::move(g)), trie_(std::move(trie)) {
  StateKey start;
  for (uint32_t a = 0; a < g_->rules[g_->root].alts.size(); a++) expand({{g_->root, a, 0}}, start, 0);
  std::sort(start.begin(), start.end());
  start.erase(std::unique(start.begin(), start.end()), start.end());
  if (start.empty()) fail("GRAMMAR_SYNTAX", "Invalid grammar: the root rule matches nothing");
  intern(std::move(start));
}

// Pops finished frames and expands rule references until the top is a character set (or the
// stack is empty: the grammar is complete there).
void GrammarVocab::expand(Stack s, StateKey& out, int depth) const {
  if (depth > 4096) fail("GRAMMAR_SYNTAX", "Invalid grammar: rules nest deeper than 4096 without consuming a character");
  while (!s.empty()) {
    const Frame top = s.back();
    const auto& alt = g_->rules[top.rule].alts[top.alt];
    if (top.index >= alt.size()) {
      s.pop_back();
      continue;
    }
    const GrammarElem& e = alt[top.index];
    if (e.kind == GrammarElem::Kind::Chars) break;
    // A reference: continue after it once the referenced rule is done. A reference that ends its
    // alternative leaves nothing to continue with, so its frame goes now (a tail call): otherwise
    // every pass through a repetition (R ::= item R) would leave one more finished frame below,
    // and no two steps would reach the same state.
    s.back().index++;
    if (s.back().index >= alt.size()) s.pop_back();
    const auto& ref = g_->rules[e.id];
    for (uint32_t a = 0; a < ref.alts.size(); a++) {
      Stack t = s;
      t.push_back({e.id, a, 0});
      expand(std::move(t), out, depth + 1);
    }
    return;
  }
  out.push_back(std::move(s));
}

int32_t GrammarVocab::intern(StateKey&& key) {
  auto it = index_.find(key);
  if (it != index_.end()) return it->second;
  const int32_t id = static_cast<int32_t>(states_.size());
  bool acc = false;
  for (const Stack& s : key) {
    acc = acc || s.empty();
    frames_ += s.size() + 1;
  }
  // Every state keeps its whole stacks, so nesting that deepens by a frame per character (a
  // rule inside itself, "(" x ")") costs memory quadratic in the text: a typed error instead.
  if (frames_ > kMaxFrames)
    fail("OUT_OF_MEMORY", "The grammar's matcher states reached over " + std::to_string(kMaxFrames) +
                              " stack frames (rules nested too deeply for this output length)");
  index_.emplace(key, id);
  states_.push_back(std::move(key));
  accepting_.push_back(acc ? 1 : 0);
  return id;
}

int32_t GrammarVocab::step(int32_t state, uint32_t cp) {
  int32_t* ascii = nullptr;
  if (cp < 128) {
    if (ascii_.size() <= static_cast<size_t>(state)) ascii_.resize(states_.size());
    std::unique_ptr<int32_t[]>& row = ascii_[static_cast<size_t>(state)];
    if (!row) {
      row.reset(new int32_t[128]);
      std::fill(row.get(), row.get() + 128, -2);
    }
    ascii = row.get();
    if (ascii[cp] != -2) return ascii[cp];
  }
  const uint64_t k = (static_cast<uint64_t>(state) << 21) | cp;
  uint64_t signature = 0;
  const StateKey& stacks = states_[static_cast<size_t>(state)];
  const bool by_sig = !ascii && stacks.size() <= 64;
  if (by_sig) {
    for (size_t i = 0; i < stacks.size(); i++) {
      const Stack& st = stacks[i];
      if (st.empty()) continue;
      const Frame& top = st.back();
      if (g_->sets[g_->rules[top.rule].alts[top.alt][top.index].id].contains(cp)) signature |= uint64_t(1) << i;
    }
    if (by_signature_.size() <= static_cast<size_t>(state)) by_signature_.resize(states_.size());
    for (const auto& e : by_signature_[static_cast<size_t>(state)])
      if (e.first == signature) return e.second;
  } else if (!ascii) {
    auto it = transitions_.find(k);
    if (it != transitions_.end()) return it->second;
  }
  StateKey next;
  for (const Stack& s : states_[static_cast<size_t>(state)]) {
    if (s.empty()) continue;
    const Frame& top = s.back();
    const GrammarElem& e = g_->rules[top.rule].alts[top.alt][top.index];
    if (!g_->sets[e.id].contains(cp)) continue;
    Stack t = s;
    t.back().index++;
    expand(std::move(t), next, 0);
  }
  int32_t id = -1;
  if (!next.empty()) {
    std::sort(next.begin(), next.end());
    next.erase(std::unique(next.begin(), next.end()), next.end());
    if (next.size() > 100000) fail("GRAMMAR_SYNTAX", "Invalid grammar: it is too ambiguous (over 100000 parses at once)");
    id = intern(std::move(next));
  }
  if (states_.size() > 2000000) fail("OUT_OF_MEMORY", "The grammar reached over 2000000 distinct states");
  if (ascii) ascii[cp] = id;
  else if (by_sig) {
    if (by_signature_.size() <= static_cast<size_t>(state)) by_signature_.resize(states_.size());
    by_signature_[static_cast<size_t>(state)].emplace_back(signature, id);
  } else transitions_.emplace(k, id);
  return id;
}

bool GrammarVocab::partial_ok(int32_t state, uint32_t lo, uint32_t hi) {
  for (const Stack& s : states_[static_cast<size_t>(state)]) {
    if (s.empty()) continue;
    const Frame& top = s.back();
    if (g_->sets[g_->rules[top.rule].alts[top.alt][top.index].id].intersects(lo, hi)) return true;
  }
  return false;
}

GrammarVocab::Position GrammarVocab::start() { return Position{}; }

namespace {

// Feeds one byte into a position's UTF-8 decoder: returns 1 with *cp set when a character is
// complete, 0 when more bytes are needed, -1 for invalid UTF-8.
int feed_utf8(uint32_t& partial, uint8_t& need, uint8_t& len, uint8_t b, uint32_t* cp) {
  if (need == 0) {
    if (b < 0x80) {
      *cp = b;
      return 1;
    }
    if ((b >> 5) == 6) partial = b & 0x1F, need = 1;
    else if ((b >> 4) == 14) partial = b & 0x0F, need = 2;
    else if ((b >> 3) == 30) partial = b & 0x07, need = 3;
    else return -1;
    len = static_cast<uint8_t>(need + 1);
    return 0;
  }
  if ((b & 0xC0) != 0x80) return -1;
  partial = (partial << 6) | (b & 0x3F);
  if (--need == 0) {
    *cp = partial;
    partial = 0;
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    const uint32_t min_cp = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    if (*cp < min_cp || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF)) return -1;
    return 1;
  }
  return 0;
}

}  // namespace

GrammarVocab::Position GrammarVocab::advance(Position p, const std::string& bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  for (char ch : bytes) {
    uint32_t cp;
    const int r = feed_utf8(p.partial, p.need, p.len, static_cast<uint8_t>(ch), &cp);
    if (r < 0) return Position{-1, 0, 0, 0};
    if (r == 1) {
      p.state = step(p.state, cp);
      if (p.state < 0) return p;
    }
  }
  return p;
}

bool GrammarVocab::accepting(const Position& p) {
  std::lock_guard<std::mutex> lock(mu_);
  return p.state >= 0 && p.need == 0 && accepting_[static_cast<size_t>(p.state)];
}

// Depth-first over the trie from `node` (whose bytes brought the matcher to p): every token
// ending in a subtree the grammar still accepts is allowed; a dead position prunes its subtree.
void GrammarVocab::walk(uint32_t node, Position p, std::vector<uint8_t>& mask) {
  const TokenTrie::Node& n = trie_->nodes[node];
  if (n.n_tokens > 0) {
    // A token ending inside a character is allowed only if some completion could match.
    bool ok = true;
    if (p.need > 0) {
      // Completions of the pending bytes, from the smallest code point a sequence of this
      // length encodes (shorter ones would be overlong), up to U+10FFFF.
      const uint32_t shift = 6u * p.need;
      const uint32_t min_cp = p.len == 2 ? 0x80 : p.len == 3 ? 0x800 : 0x10000;
      const uint32_t lo = std::max(p.partial << shift, min_cp);
      const uint32_t hi = std::min((p.partial << shift) | ((1u << shift) - 1), 0x10FFFFu);
      ok = lo <= hi && partial_ok(p.state, lo, hi);
    }
    if (ok)
      for (int32_t i = 0; i < n.n_tokens; i++) mask[static_cast<size_t>(trie_->ids[static_cast<size_t>(n.first_token + i)])] = 1;
  }
  for (uint32_t child = node + 1; child < n.end; child = trie_->nodes[child].end) {
    Position q = p;
    uint32_t cp;
    const int r = feed_utf8(q.partial, q.need, q.len, trie_->nodes[child].byte, &cp);
    if (r < 0) continue;
    if (r == 1) {
      q.state = step(q.state, cp);
      if (q.state < 0) continue;
    }
    walk(child, q, mask);
  }
}

bool GrammarVocab::token_allowed(const Position& p, int32_t token) {
  std::lock_guard<std::mutex> lock(mu_);
  if (p.state < 0) return false;
  auto it = masks_.find(std::make_tuple(p.state, p.partial, static_cast<uint8_t>(p.need | (p.len << 4))));
  if (it != masks_.end()) return (*it->second)[static_cast<size_t>(token)] != 0;
  if (std::binary_search(trie_->eog.begin(), trie_->eog.end(), token)) return p.need == 0 && accepting_[static_cast<size_t>(p.state)];
  const std::string& piece = trie_->pieces[static_cast<size_t>(token)];
  if (piece.empty()) return false;
  Position q = p;
  for (char ch : piece) {
    uint32_t cp;
    const int r = feed_utf8(q.partial, q.need, q.len, static_cast<uint8_t>(ch), &cp);
    if (r < 0) return false;
    if (r == 1) {
      q.state = step(q.state, cp);
      if (q.state < 0) return false;
    }
  }
  if (q.need == 0) return true;
  const uint32_t shift = 6u * q.need;
  const uint32_t min_cp = q.len == 2 ? 0x80 : q.len == 3 ? 0x800 : 0x10000;
  const uint32_t lo = std::max(q.partial << shift, min_cp);
  const uint32_t hi = std::min((q.partial << shift) | ((1u << shift) - 1), 0x10FFFFu);
  return lo <= hi && partial_ok(q.state, lo, hi);
}

std::shared_ptr<const std::vector<uint8_t>> GrammarVocab::mask(const Position& p) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto key = std::make_tuple(p.state, p.partial, static_cast<uint8_t>(p.need | (p.len << 4)));
  auto it = masks_.find(key);
  if (it != masks_.end()) return it->second;
  auto m = std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(trie_->n_vocab), 0);
  if (p.state >= 0) {
    walk(0, p, *m);
    if (p.need == 0 && accepting_[static_cast<size_t>(p.state)])
      for (int32_t id : trie_->eog) (*m)[static_cast<size_t>(id)] = 1;
  }
  if (masks_.size() > 4096) masks_.clear();  // bounded: masks are n_vocab bytes each
  masks_.emplace(key, m);
  return m;
}

// ---------------------------------------------------------------------------------------------

GrammarMatcher::GrammarMatcher(std::shared_ptr<GrammarVocab> gv) : gv_(std::move(gv)), pos_(gv_->start()) {}

bool GrammarMatcher::allowed(int32_t token) {
  if (ended_ || token < 0 || token >= gv_->trie().n_vocab) return false;
  return (*gv_->mask(pos_))[static_cast<size_t>(token)] != 0;
}

bool GrammarMatcher::allowed_alone(int32_t token) {
  if (ended_ || token < 0 || token >= gv_->trie().n_vocab) return false;
  return gv_->token_allowed(pos_, token);
}

void GrammarMatcher::apply(float* logits, int32_t n_vocab) {
  if (ended_) fail("GRAMMAR_NO_TOKEN", "The grammar is already complete: no token may follow");
  const auto shared = gv_->mask(pos_);
  const std::vector<uint8_t>& m = *shared;
  const int32_t n = std::min<int32_t>(n_vocab, static_cast<int32_t>(m.size()));
  bool any = false;
  for (int32_t i = 0; i < n; i++) {
    if (!m[static_cast<size_t>(i)]) logits[i] = -std::numeric_limits<float>::infinity();
    else any = true;
  }
  for (int32_t i = n; i < n_vocab; i++) logits[i] = -std::numeric_limits<float>::infinity();
  if (!any)
    fail("GRAMMAR_NO_TOKEN",
         "No token of this vocabulary can continue the grammar here (the output so far ends where the grammar needs a "
         "character no token provides)");
}

void GrammarMatcher::accept(int32_t token) {
  if (!allowed_alone(token))
    fail("GRAMMAR_REJECTED", "Expected a token the grammar allows but received token " + std::to_string(token));
  const TokenTrie& t = gv_->trie();
  if (std::find(t.eog.begin(), t.eog.end(), token) != t.eog.end()) {
    ended_ = true;
    return;
  }
  pos_ = gv_->advance(pos_, t.pieces[static_cast<size_t>(token)]);
}

bool GrammarMatcher::complete() { return ended_ || gv_->accepting(pos_); }

}  // namespace hb
