// Tokenizers of LLaMA-family vocabularies, matching llama.cpp token for token:
// SentencePiece-style ("llama": scores, byte fallback) and byte-level BPE ("gpt2": merges plus the
// pre-tokenizer named by tokenizer.ggml.pre). Built from GGUF metadata alone (vocab-only files work).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace hb {

class GgufFile;

// tokenizer.ggml.token_type values.
enum class TokenAttr : int32_t { Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

class Tokenizer {
 public:
  // Throws hb::Error: TOKENIZER_MISSING (no tokenizer.ggml.model / tokens, BPE without merges),
  // UNSUPPORTED_TOKENIZER (unknown model or pre-tokenizer name, named in the message),
  // GGUF_BAD_METADATA (wrongly typed keys, scores/token_type shorter than tokens, duplicate token
  // texts, add_bos/add_eos set without a usable BOS/EOS id). A special id outside the vocabulary
  // is ignored (the default kept), as llama.cpp does. "no_vocab" models load with no tokens;
  // tokenize then throws TOKENIZER_MISSING.
  static std::unique_ptr<Tokenizer> from_gguf(const GgufFile& gguf);
  virtual ~Tokenizer() = default;

  // text is UTF-8. Invalid bytes as llama.cpp: SentencePiece keeps raw bytes (byte-fallback
  // tokens); byte-level BPE turns each invalid byte into U+FFFD. Thread-safe: const, no shared
  // mutable state (a bounded per-call word cache only).
  // add_special: BOS/EOS per the vocabulary's add_bos/add_eos flags.
  // parse_special: control (and unknown) token texts in `text` become their ids. User-defined
  // token texts always do, as in llama.cpp.
  virtual std::vector<int32_t> tokenize(const std::string& text, bool add_special, bool parse_special) const = 0;
  // Bytes of one token as llama.cpp's token_to_piece (lstrip 0): SentencePiece ▁ -> space, <0xXX> -> byte,
  // BPE byte-level decoding; control tokens render as their text only if render_special.
  // Throws TOKEN_OUT_OF_RANGE for bad ids.
  virtual std::string token_to_piece(int32_t id, bool render_special) const = 0;
  // Concatenated pieces as llama.cpp's llama_detokenize(unparse_special=render_special): with
  // add_space_prefix (SentencePiece) the first piece loses one leading space; a leading BOS that
  // renders as nothing (render_special false) is skipped for that purpose, as remove_special=true
  // would ("<s>▁Hello" -> "Hello"); with render_special it stays, as remove_special=false
  // ("<s> Hello"). BPE vocabularies with clean_spaces apply llama.cpp's " ." / " 's" clean-up.
  // Throws TOKEN_OUT_OF_RANGE for bad ids.
  virtual std::string detokenize(const std::vector<int32_t>& ids, bool render_special) const = 0;

  int32_t n_vocab() const { return static_cast<int32_t>(tokens_.size()); }
  const std::string& model() const { return model_; }  // "llama" | "gpt2" | ...
  const std::string& pre() const { return pre_; }
  int32_t bos() const { return bos_; }  // -1 if none
  int32_t eos() const { return eos_; }
  int32_t eot() const { return eot_; }
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  bool is_eog(int32_t id) const;        // end of generation: eos, eot, eom and others marked so
  const std::vector<int32_t>& eog_ids() const { return eog_; }
  TokenAttr attr(int32_t id) const;
  const std::string& token_text(int32_t id) const;  // raw vocabulary string

 protected:
  std::string model_, pre_;
  std::vector<std::string> tokens_;
  std::vector<float> scores_;
  std::vector<TokenAttr> attrs_;
  int32_t bos_ = -1, eos_ = -1, eot_ = -1, eom_ = -1, unk_ = -1, pad_ = -1, nl_ = -1;
  bool add_bos_ = false, add_eos_ = false;
  std::vector<int32_t> eog_;
};

// The regexes llama.cpp splits text with before BPE for a tokenizer.ggml.pre value, in order
// (empty if the name is unknown). Exposed for tests and tools.
std::vector<std::string> bpe_pre_regexes(const std::string& pre);

}  // namespace hb
