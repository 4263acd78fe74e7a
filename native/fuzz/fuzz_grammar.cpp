// GBNF parser, then the grammar driven over bytes of the input against a small vocabulary.
#include <memory>
#include <string>

#include "../core/grammar.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // The input is "grammar \x00 text to feed": the parser sees the first part.
  const size_t cut = text.find('\0');
  const std::string gbnf = text.substr(0, cut);
  const std::string feed = cut == std::string::npos ? std::string("{\"a\": [1, 2]}") : text.substr(cut + 1);
  hbfuzz::expect_typed([&] {
    std::shared_ptr<const hb::Grammar> g = hb::Grammar::parse(gbnf);
    static const std::shared_ptr<const hb::TokenTrie> trie = hb::TokenTrie::from_pieces(
        {"", "a", "b", "{", "}", "\"", ":", " ", "1", "2", ",", "[", "]", "ab", "\xC3\xA9", "\n", "true", "null"}, {0});
    hb::GrammarVocab gv(g, trie);
    hb::GrammarVocab::Position p = gv.start();
    for (size_t i = 0; i < feed.size() && i < 64 && p.state >= 0; i++) {
      (void)gv.mask(p);
      p = gv.advance(p, feed.substr(i, 1));
    }
    if (p.state >= 0) (void)gv.accepting(p);
  });
  return 0;
}
