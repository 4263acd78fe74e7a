// Constrained generation: GBNF grammars as llama.cpp defines them, compiled to rules of
// alternatives, run as a pushdown matcher over Unicode code points, and turned into a mask over
// the vocabulary (which tokens keep the output inside the grammar).
//
// Grammar::parse      text -> rules (repetitions and groups become generated rules), with typed
//                     GRAMMAR_SYNTAX errors that name the line and column
// GrammarVocab        one per (grammar, vocabulary): a byte trie of the vocabulary's tokens and
//                     caches shared by every sequence using them: matcher states are interned
//                     (a state is a set of rule stacks), transitions by code point and the mask
//                     of each state are computed once. So the per-step cost grows with the
//                     number of new grammar states reached, not with the vocabulary size.
// GrammarMatcher      one per sequence: its current state; allowed tokens, accept a token.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace hb {

class Tokenizer;

// A set of code points: ranges [lo, hi] (sorted, merged), possibly negated ([^...]); `.` is the
// negation of none.
struct CharSet {
  std::vector<std::pair<uint32_t, uint32_t>> ranges;
  bool negated = false;
  bool contains(uint32_t c) const;
  // Whether some code point in [lo, hi] is in the set (a partial UTF-8 character's completions).
  bool intersects(uint32_t lo, uint32_t hi) const;
};

struct GrammarElem {
  enum class Kind : uint8_t { Chars, Rule } kind;
  uint32_t id;  // index into Grammar::sets or Grammar::rules
};

struct GrammarRule {
  std::string name;  // as written, or "name_N" for rules generated from groups and repetitions
  std::vector<std::vector<GrammarElem>> alts;  // an empty alternative matches nothing
};

class Grammar {
 public:
  // Throws GRAMMAR_SYNTAX ("... at line L, column C"): unterminated string or class, bad escape,
  // bad repetition, reference to an undefined rule, missing root, left recursion, empty input.
  static std::shared_ptr<const Grammar> parse(const std::string& text, const std::string& root = "root");

  std::vector<GrammarRule> rules;
  std::vector<CharSet> sets;
  uint32_t root = 0;
  size_t n_written_rules = 0;  // rules that appear in the text (the rest are generated)
};

// Token bytes of a vocabulary arranged as a trie, built once per tokenizer.
struct TokenTrie {
  // Nodes in depth-first order, so a walk reads them front to back: node i's subtree is
  // [i, end), its first child (if any) is i + 1, and each child's subtree ends where the next begins.
  struct Node {
    uint32_t end = 0;
    uint8_t byte = 0;
    int32_t first_token = -1, n_tokens = 0;  // tokens ending here: ids[first_token, +n)
  };
  std::vector<Node> nodes;  // [0] is the root
  std::vector<int32_t> ids;
  std::vector<int32_t> eog;      // end-of-generation ids (allowed when the grammar is complete)
  std::vector<std::string> pieces;  // (n_vocab,) each token's bytes; empty for tokens left out
  int32_t n_vocab = 0;
  // Normal, user-defined, byte and unknown-typed tokens with non-empty bytes; control tokens are
  // left out (never allowed by a grammar).
  static std::shared_ptr<const TokenTrie> build(const Tokenizer& tok);
  // From token bytes (empty: never allowed) and the end-of-generation ids.
  static std::shared_ptr<const TokenTrie> from_pieces(std::vector<std::string> pieces, std::vector<int32_t> eog);
};

class GrammarVocab {
 public:
  GrammarVocab(std::shared_ptr<const Grammar> g, std::shared_ptr<const TokenTrie> trie);
  const Grammar& grammar() const { return *g_; }
  const TokenTrie& trie() const { return *trie_; }

  // A matcher position: an interned state plus a pending partial UTF-8 character.
  struct Position {
    int32_t state = 0;
    uint32_t partial = 0;  // bits of the character so far
    uint8_t need = 0;      // continuation bytes still to come (0: none pending)
    uint8_t len = 0;       // total bytes of the pending character
  };
  Position start();
  // The position after `bytes`, or state -1 if they leave the grammar (or are invalid UTF-8).
  Position advance(Position p, const std::string& bytes);
  bool accepting(const Position& p);  // the grammar is complete here
  // Allowed tokens at p (n_vocab bytes, 1 = allowed), EOG tokens included when accepting.
  // Cached per position (shared, so a cache eviction elsewhere cannot pull it away).
  std::shared_ptr<const std::vector<uint8_t>> mask(const Position& p);
  // Whether one token is allowed at p, by its bytes (or the cached mask, if there is one).
  bool token_allowed(const Position& p, int32_t token);
  size_t n_states() const { return states_.size(); }

 private:
  struct Frame {
    uint32_t rule, alt, index;
    bool operator<(const Frame& o) const {
      return rule != o.rule ? rule < o.rule : alt != o.alt ? alt < o.alt : index < o.index;
    }
    bool operator==(const Frame& o) const { return rule == o.rule && alt == o.alt && index == o.index; }
  };
  using Stack = std::vector<Frame>;        // top at back; top always at a Chars element
  using StateKey = std::vector<Stack>;     // sorted, unique; an empty stack = complete
  int32_t intern(StateKey&& key);
  void expand(Stack s, StateKey& out, int depth) const;
  int32_t step(int32_t state, uint32_t cp);  // -1: dead
  bool partial_ok(int32_t state, uint32_t lo, uint32_t hi);
  void walk(uint32_t node, Position p, std::vector<uint8_t>& mask);

  std::shared_ptr<const Grammar> g_;
  std::shared_ptr<const TokenTrie> trie_;
  std::mutex mu_;  // sequences in different workers share the caches
  static constexpr size_t kMaxFrames = size_t(1) << 22;  // ~50 MB of frames in states_ (and as many in index_)
  size_t frames_ = 0;  // frames (plus one per stack) in all interned states
  std::map<StateKey, int32_t> index_;
  std::vector<StateKey> states_;
  std::vector<int8_t> accepting_;
  std::unordered_map<uint64_t, int32_t> transitions_;  // (state << 21 | cp) -> state, cp >= 128
  // ASCII transitions per state, dense (most token bytes are ASCII): -2 not known yet, -1 dead.
  std::vector<std::unique_ptr<int32_t[]>> ascii_;
  // Other code points: the next state depends only on which of the state's stacks accept the
  // character (a bit per stack), so each state keeps (accepting stacks, next state) pairs: a few
  // set tests and a short scan instead of a hash lookup per character.
  std::vector<std::vector<std::pair<uint64_t, int32_t>>> by_signature_;
  std::map<std::tuple<int32_t, uint32_t, uint8_t>, std::shared_ptr<const std::vector<uint8_t>>> masks_;
};

class GrammarMatcher {
 public:
  explicit GrammarMatcher(std::shared_ptr<GrammarVocab> gv);
  // logits (n_vocab,): disallowed tokens set to -inf. Throws GRAMMAR_NO_TOKEN if nothing is
  // allowed (the grammar cannot go on with this vocabulary).
  void apply(float* logits, int32_t n_vocab);
  bool allowed(int32_t token);
  // The same answer as allowed(), found by walking this one token's bytes (no vocabulary mask;
  // the cached mask is used if this position already has one).
  bool allowed_alone(int32_t token);
  // Advances past a token (it must be allowed; EOG tokens end the grammar). Throws
  // GRAMMAR_REJECTED otherwise.
  void accept(int32_t token);
  bool complete();
  GrammarVocab& vocab() { return *gv_; }

 private:
  std::shared_ptr<GrammarVocab> gv_;
  GrammarVocab::Position pos_;
  bool ended_ = false;
};

}  // namespace hb
