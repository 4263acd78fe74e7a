// Tokenizers: arbitrary text through every fixture vocabulary (SentencePiece and byte-level BPE
// with their pre-tokenizers), with each add/parse-special combination, then back to text.
#include <memory>
#include <string>
#include <vector>

#include "../core/gguf.h"
#include "../core/tokenizer.h"
#include "fuzz_common.h"

namespace {
struct Vocab {
  std::unique_ptr<hb::GgufFile> file;
  std::unique_ptr<hb::Tokenizer> tok;
};
std::vector<Vocab>& vocabs() {
  static std::vector<Vocab> v = [] {
    std::vector<Vocab> out;
    for (const char* name : {"ggml-vocab-llama-spm.gguf", "ggml-vocab-llama-bpe.gguf", "ggml-vocab-gpt-2.gguf",
                             "ggml-vocab-qwen2.gguf", "ggml-vocab-deepseek-coder.gguf", "ggml-vocab-falcon.gguf",
                             "ggml-vocab-command-r.gguf"}) {
      try {
        Vocab x;
        x.file = hb::GgufFile::open(hbfuzz::fixtures() + "/tokenizer/" + name, true);
        x.tok = hb::Tokenizer::from_gguf(*x.file);
        out.push_back(std::move(x));
      } catch (const hb::Error&) {
        // a vocabulary this checkout lacks: fuzz the others
      }
    }
    if (out.empty()) {
      std::fprintf(stderr, "no vocabularies under %s/tokenizer (set HALFBYTE_FIXTURES)\n", hbfuzz::fixtures().c_str());
      std::abort();
    }
    return out;
  }();
  return v;
}
}  // namespace

// The vocabularies load here, before libFuzzer's per-input timeout starts: with ASan and
// coverage the big BPE vocabularies take seconds, and on a busy machine the first input timed
// out (a false "finding").
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)vocabs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::vector<Vocab>& vs = vocabs();
  const Vocab& v = vs[data[0] % vs.size()];
  const bool add_special = data[0] & 0x40, parse_special = data[0] & 0x80;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  hbfuzz::expect_typed([&] {
    const std::vector<int32_t> ids = v.tok->tokenize(text, add_special, parse_special);
    (void)v.tok->detokenize(ids, parse_special);
    for (int32_t id : ids) (void)v.tok->token_to_piece(id, true);
  });
  return 0;
}
