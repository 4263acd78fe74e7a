// GGUF reader: header, metadata and tensor table of arbitrary bytes, in both modes, then the
// tokenizer built from whatever metadata parsed.
#include <memory>

#include "../core/gguf.h"
#include "../core/tokenizer.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  for (bool vocab_only : {true, false}) {
    hbfuzz::expect_typed([&] {
      std::unique_ptr<hb::GgufFile> g = hb::GgufFile::parse(data, size, vocab_only);
      for (const auto& kv : g->metadata) (void)kv.first.size();
      if (!vocab_only) return;
      std::unique_ptr<hb::Tokenizer> tok = hb::Tokenizer::from_gguf(*g);
      const std::vector<int32_t> ids = tok->tokenize("Hello world, 123 <s> \xC3\xA9t\xC3\xA9!", true, true);
      (void)tok->detokenize(ids, true);
    });
  }
  return 0;
}
