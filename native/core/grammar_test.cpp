// Tests of GBNF grammars (grammar.h): every construct, every syntax error with its position,
// matching strings, and vocabulary masks checked token by token against a brute-force walk.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "../tests/check.h"
#include "grammar.h"
#include "model.h"
#include "tokenizer.h"

namespace {

std::shared_ptr<hb::GrammarVocab> vocab_for(const std::string& text, std::shared_ptr<const hb::TokenTrie> trie = nullptr) {
  if (!trie) trie = std::make_shared<hb::TokenTrie>();
  return std::make_shared<hb::GrammarVocab>(hb::Grammar::parse(text), trie);
}

// Whether the whole string is a sentence of the grammar.
bool matches(hb::GrammarVocab& gv, const std::string& s) {
  hb::GrammarVocab::Position p = gv.advance(gv.start(), s);
  return p.state >= 0 && gv.accepting(p);
}
// Whether the string is a prefix of some sentence.
bool prefix_ok(hb::GrammarVocab& gv, const std::string& s) { return gv.advance(gv.start(), s).state >= 0; }

std::string syntax_error(const std::string& text) {
  try {
    hb::Grammar::parse(text);
  } catch (const hb::Error& e) {
    if (e.code() != "GRAMMAR_SYNTAX") return "code " + e.code();
    return e.what();
  }
  return "no error";
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

TEST(grammar_literals_classes_groups_and_repetitions) {
  auto gv = vocab_for(
      "# a comment\n"
      "root ::= greeting \" \" name (\"!\" | \"?\")? digits tail  # trailing comment\n"
      "greeting ::= \"hi\" | \"hey\"\n"
      "name ::= [A-Z] [a-z]*\n"
      "digits ::= [0-9]{2,3}\n"
      "tail ::= (\"-\" [^\\n\\x00-\\x1F]){0,2} \"\\u00e9\"+ .\n");
  CHECK(matches(*gv, "hi Bob!12\xc3\xa9x"));
  CHECK(matches(*gv, "hey A123-a-b\xc3\xa9\xc3\xa9\xc3\xa9z"));
  CHECK(matches(*gv, "hi Zed?99\xc3\xa9\xe6\x97\xa5"));  // . is any character, multi-byte too
  CHECK(!matches(*gv, "hi bob!12\xc3\xa9x"));            // [A-Z]
  CHECK(!matches(*gv, "hi Bob!1\xc3\xa9x"));             // {2,3}
  CHECK(!matches(*gv, "hi Bob!1234\xc3\xa9x"));
  CHECK(!matches(*gv, "hi Bob!12-a-b-c\xc3\xa9x"));      // {0,2}
  CHECK(!matches(*gv, "hi Bob!12-\n\xc3\xa9x"));          // negated class
  CHECK(!matches(*gv, "hi Bob!12x"));                    // + needs one
  CHECK(prefix_ok(*gv, "hey A1"));
  CHECK(!prefix_ok(*gv, "ho"));
  // {m} and {m,}
  auto exact = vocab_for("root ::= \"ab\"{3} [x]{2,}\n");
  CHECK(matches(*exact, "abababxx"));
  CHECK(matches(*exact, "abababxxxxx"));
  CHECK(!matches(*exact, "ababxx"));
  CHECK(!matches(*exact, "abababx"));
  // Empty alternatives, multi-line rules and alternatives on new lines, escapes.
  auto ws = vocab_for(
      "root ::=\n  \"[\" ws (\n    item\n    (\",\" ws item)*\n  )? \"]\"\n"
      "item ::= \"\\\"\" [^\"\\\\]* \"\\\"\"\nws ::= | \" \" | \"\\n\" [ \\t]{0,3}\n");
  CHECK(matches(*ws, "[]"));
  CHECK(matches(*ws, "[ \"a\",\n  \"b\\\\\"]") == false);  // backslash not allowed inside
  CHECK(matches(*ws, "[\"a\", \"b c\"]"));
  CHECK(matches(*ws, "[\n\t\"x\"]"));
}

TEST(grammar_syntax_errors_name_line_and_column) {
  CHECK_EQ(syntax_error("root ::= \"abc\n"), std::string("Invalid grammar: an unterminated string literal at line 1, column 10"));
  CHECK_EQ(syntax_error("root ::= [a-z\n"), std::string("Invalid grammar: an unterminated character class at line 1, column 10"));
  CHECK_EQ(syntax_error("root ::= a\na ::= b\n"), std::string("Invalid grammar: undefined rule b at line 2, column 7"));
  CHECK_EQ(syntax_error("start ::= \"x\"\n"), std::string("Invalid grammar: no rule named root at line 2, column 1"));
  CHECK_EQ(syntax_error(""), std::string("Invalid grammar: an empty grammar (expected at least one rule) at line 1, column 1"));
  CHECK_EQ(syntax_error("root ::= (\"a\" \"b\"\n"), std::string("Invalid grammar: an unclosed parenthesis at line 1, column 10"));
  CHECK_EQ(syntax_error("root ::= * \"a\"\n"),
           std::string("Invalid grammar: a repetition operator * without an item before it at line 1, column 10"));
  CHECK_EQ(syntax_error("root ::= \"a\"{3,1}\n"), std::string("Invalid grammar: a repetition {m,n} with n < m at line 1, column 13"));
  CHECK_EQ(syntax_error("root ::= \"a\"{2\n"), std::string("Invalid grammar: an unclosed {m,n} repetition at line 1, column 13"));
  CHECK_EQ(syntax_error("root ::= \"\\q\"\n"), std::string("Invalid grammar: an unknown escape \\q at line 1, column 11"));
  CHECK_EQ(syntax_error("root ::= [z-a]\n"),
           std::string("Invalid grammar: a character range whose end comes before its start at line 1, column 10"));
  CHECK_EQ(syntax_error("root ::= \"a\"\nroot ::= \"b\"\n"), std::string("Invalid grammar: rule root is defined twice at line 2, column 1"));
  CHECK_EQ(syntax_error("root ::= \"a\" ::= \"b\"\n"),
           std::string("Invalid grammar: expected the end of the line after the rule root at line 1, column 14"));
  CHECK_EQ(syntax_error("root ::= expr\nexpr ::= expr \"+\" \"1\" | \"1\"\n"),
           std::string("Invalid grammar: rule expr is left-recursive (it can start with itself)"));
  CHECK_EQ(syntax_error("root ::= a\na ::= b? a \"x\"\nb ::= \"y\"\n"),
           std::string("Invalid grammar: rule a is left-recursive (it can start with itself)"));
  // Right recursion is fine.
  CHECK_EQ(syntax_error("root ::= \"1\" (\"+\" root)?\n"), std::string("no error"));
}

TEST(grammar_llama_cpp_examples_parse_and_match) {
  const std::string dir = hbtest::fixtures_dir() + "/grammars/";
  for (const char* name : {"arithmetic", "c", "chess", "english", "japanese", "json", "json_arr", "list"}) {
    const std::string text = read_file(dir + name + ".gbnf");
    CHECK(!text.empty());
    std::string err = "no error";
    try {
      vocab_for(text);
    } catch (const hb::Error& e) {
      err = e.what();
    }
    if (err != "no error") std::printf("  %s: %s\n", name, err.c_str());
    CHECK_EQ(err, std::string("no error"));
  }
  auto json = vocab_for(read_file(dir + "json.gbnf"));
  CHECK(matches(*json, "{\"a\": [1, 2.5e3, true, null], \"b\": {\"c\": \"d\\n\\u00e9\"}}"));
  CHECK(!matches(*json, "{\"a\": [1, 2,]}"));
  CHECK(!matches(*json, "{\"a\" 1}"));
  auto arith = vocab_for(read_file(dir + "arithmetic.gbnf"));
  CHECK(matches(*arith, "1+2= 3\n"));
  CHECK(!matches(*arith, "1+= 3\n"));
  auto chess = vocab_for(read_file(dir + "chess.gbnf"));
  CHECK(matches(*chess, "1. e4 e5\n2. Nf3 Nc6\n"));
  auto jp = vocab_for(read_file(dir + "japanese.gbnf"));
  CHECK(matches(*jp, "\xe3\x81\x82\xe3\x82\xa2"));  // あア
  CHECK(!matches(*jp, "a"));
}

// Masks on a real vocabulary (stories260K: SentencePiece with byte tokens) equal a brute-force
// check of every token through advance(), and special tokens follow the rules.
TEST(grammar_vocabulary_masks) {
  hb::LoadOptions o;
  o.vocab_only = true;
  auto model = hb::Model::load(hbtest::fixtures_dir() + "/models/stories260K.gguf", o);
  const hb::Tokenizer& tok = model->tokenizer();
  auto trie = hb::TokenTrie::build(tok);
  for (const char* text : {"root ::= \"Once upon a time\" [a-z ,.]*\n", "root ::= [A-Z] [a-z]+ (\" \" [a-z]+){0,3} \".\"\n",
                           "root ::= \"\\u00e9t\\u00e9\" | \"caf\\u00e9\"\n"}) {
    auto gv = vocab_for(text, trie);
    hb::GrammarMatcher m(gv);
    // Walk a few steps, each time comparing the mask with a brute-force check of every token:
    // the text so far plus the token's bytes must stay a prefix of some sentence, completing a
    // character it ends inside in some way.
    std::string sofar;
    auto brute = [&](const std::string& piece) {
      hb::GrammarVocab::Position p = gv->advance(gv->start(), sofar + piece);
      if (p.state < 0) return false;
      if (p.need == 0) return true;
      if (p.need == 3) return false;  // these grammars have no 4-byte characters
      for (int b1 = 0x80; b1 < 0xC0; b1++) {
        std::string one(1, static_cast<char>(b1));
        if (p.need == 1) {
          if (gv->advance(p, one).state >= 0) return true;
          continue;
        }
        for (int b2 = 0x80; b2 < 0xC0; b2++)
          if (gv->advance(p, one + std::string(1, static_cast<char>(b2))).state >= 0) return true;
      }
      return false;
    };
    int mismatches = 0, steps = 0;
    for (; steps < 6 && !m.complete(); steps++) {
      std::vector<float> logits(static_cast<size_t>(tok.n_vocab()), 0.0f);
      m.apply(logits.data(), tok.n_vocab());
      int32_t pick = -1;
      for (int32_t id = 0; id < tok.n_vocab(); id++) {
        const bool allowed = logits[static_cast<size_t>(id)] == 0.0f;
        const std::string& piece = trie->pieces[static_cast<size_t>(id)];
        bool want;
        if (tok.is_eog(id)) want = gv->accepting(gv->advance(gv->start(), sofar));  // only where complete
        else if (tok.attr(id) == hb::TokenAttr::Control) want = false;               // special: never
        else want = !piece.empty() && brute(piece);
        if (allowed != want && mismatches < 3) std::printf("  token %d attr %d piece [%s] allowed %d want %d\n", id, static_cast<int>(tok.attr(id)), piece.c_str(), allowed, want);
        mismatches += allowed != want;
        if (allowed && !tok.is_eog(id) && (pick < 0 || piece.size() > trie->pieces[static_cast<size_t>(pick)].size()))
          pick = id;  // the longest allowed token: it spans several grammar elements
      }
      CHECK(pick >= 0);
      if (pick < 0) break;
      m.accept(pick);
      sofar += trie->pieces[static_cast<size_t>(pick)];
    }
    std::printf("  %zu-byte output after %d steps, %zu grammar states\n", sofar.size(), steps, gv->n_states());
    CHECK_EQ(mismatches, 0);
    CHECK_THROWS_CODE(m.accept(tok.bos()), "GRAMMAR_REJECTED");  // control tokens never
  }
  // A token that ends inside a UTF-8 character: the byte token <0xC3> may start "é".
  auto gv = vocab_for("root ::= \"\\u00e9\"\n", trie);
  hb::GrammarMatcher m(gv);
  std::vector<int32_t> ids;  // byte-fallback tokens <0xC3> <0xA9>
  for (const char* text : {"<0xC3>", "<0xA9>"})
    for (int32_t id = 0; id < tok.n_vocab(); id++)
      if (tok.token_text(id) == text) ids.push_back(id);
  CHECK_EQ(ids.size(), size_t(2));
  if (ids.size() != 2) return;
  CHECK(m.allowed(ids[0]));
  CHECK(!m.complete());
  m.accept(ids[0]);
  CHECK(!m.complete());
  CHECK(m.allowed(ids[1]));
  CHECK(!m.allowed(ids[0]));
  m.accept(ids[1]);
  CHECK(m.complete());
  CHECK(m.allowed(tok.eos()));  // end of generation only where the grammar is complete
  std::vector<float> logits(static_cast<size_t>(tok.n_vocab()), 1.0f);
  m.apply(logits.data(), tok.n_vocab());
  CHECK_EQ(logits[static_cast<size_t>(tok.eos())], 1.0f);
  int allowed = 0;
  for (float l : logits) allowed += l == 1.0f;
  CHECK_EQ(allowed, 1);  // nothing but EOS
}

TEST(grammar_no_token_can_continue) {
  // A vocabulary without the character the grammar needs: a typed error, never unconstrained output.
  auto trie = hb::TokenTrie::from_pieces({"a", "ab", "c", ""}, {3});
  auto gv = vocab_for("root ::= \"a\" \"x\"\n", trie);
  hb::GrammarMatcher m(gv);
  std::vector<float> logits(4, 0.0f);
  m.apply(logits.data(), 4);
  CHECK_EQ(logits[0], 0.0f);  // "a"
  CHECK(logits[1] < 0);       // "ab": b breaks the grammar
  CHECK(logits[3] < 0);       // EOG: not complete
  m.accept(0);
  CHECK_THROWS_CODE(m.apply(logits.data(), 4), "GRAMMAR_NO_TOKEN");
}

// A repetition is right recursion (R ::= item R | empty): the frame that called R is finished
// when R starts, so it is dropped then (a tail call). Kept, it grows the stack by one frame per
// repetition, every step reaches a new state, and no transition or mask is ever reused: an
// ambiguous grammar from the fuzzer took 6.6 s for 64 characters that way.
TEST(grammar_repetitions_reuse_states) {
  auto gv = vocab_for("root ::= [a-z]* (\" \" [a-z]+)*\n");
  const std::string words(2000, 'a');
  CHECK(matches(*gv, words + " " + words + " b"));
  CHECK(gv->n_states() <= 8);
  auto ambiguous = vocab_for("root ::= c+ ([ \\t] c+)*\nc ::= .\n");
  std::string text;
  for (int i = 0; i < 300; i++) text += "ab ";
  CHECK(matches(*ambiguous, text + "z"));
  CHECK(ambiguous->n_states() <= 8);
}

// Nesting that deepens with every character keeps a deeper stack in every new state: memory
// quadratic in the text, stopped by a typed error (not the OOM killer).
TEST(grammar_deep_nesting_is_bounded) {
  auto gv = vocab_for("root ::= \"(\" root \")\" | \"x\"\n");
  CHECK(matches(*gv, "((x))"));
  CHECK_THROWS_CODE(gv->advance(gv->start(), std::string(5000, '(')), "OUT_OF_MEMORY");
}
