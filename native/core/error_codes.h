// The registry of error codes: every code halfbyte throws, from the core, the addon or the
// TypeScript layer, with what it means. One list: scripts/gen-error-codes.mjs writes the
// TypeScript `errorCodes` array and `HalfbyteErrorCode` union (lib/error-codes.ts) and the
// README's list from it, and test/error-codes.test.ts fails when a thrown code is missing here.
// X(CODE, "meaning")
#pragma once

#define HB_ERROR_CODES(X)                                                                                   \
  X(INVALID_ARGUMENT, "an argument or option is wrong: \"Expected … for … but received …\"")                \
  X(ADDON_LOAD_FAILED, "the native addon did not load; the message says why and how to rebuild it")       \
  X(FILE_NOT_FOUND, "no file at that path")                                                               \
  X(FILE_READ_ERROR, "the file cannot be read, or is not a regular file (a directory, FIFO or device)")  \
  X(FILE_WRITE_ERROR, "an output file cannot be written")                                                 \
  X(GGUF_BAD_MAGIC, "not a GGUF file")                                                                    \
  X(GGUF_UNSUPPORTED_VERSION, "a GGUF version other than 2 or 3")                                         \
  X(GGUF_TRUNCATED, "the file ends before its header, metadata or tensor data do")                        \
  X(GGUF_BAD_METADATA, "a metadata value of the wrong type, length or range")                             \
  X(GGUF_BAD_TENSOR, "a tensor entry with a bad name, shape, type or offset")                             \
  X(GGUF_MISSING_KEY, "a metadata key the architecture needs is absent")                                  \
  X(BAD_TENSOR_DATA, "tensor data that cannot be used (NaN or infinite weights to quantize)")             \
  X(UNSUPPORTED_ARCHITECTURE, "general.architecture names a family halfbyte does not run")                \
  X(UNSUPPORTED_TENSOR_TYPE, "a tensor type halfbyte has no kernel for")                                  \
  X(UNSUPPORTED_TOKENIZER, "a tokenizer model or pre-tokenizer halfbyte does not implement")              \
  X(TOKENIZER_MISSING, "the file has no tokenizer")                                                       \
  X(TOKENIZER_LIMIT, "text the pre-tokenizer cannot split in bounded time")                               \
  X(MISSING_TENSOR, "a tensor the architecture needs is absent")                                          \
  X(TENSOR_SHAPE_MISMATCH, "a tensor's shape disagrees with the hyperparameters")                         \
  X(TOKEN_OUT_OF_RANGE, "a token id outside the vocabulary")                                              \
  X(CONTEXT_FULL, "the context has no room for more tokens")                                              \
  X(CONTEXT_BUSY, "the context or session is already running a call")                                    \
  X(VOCAB_ONLY, "the model was loaded with vocabOnly and has no weights")                                 \
  X(DISPOSED, "the model, session or context has been disposed")                                         \
  X(ABORTED, "the AbortSignal fired")                                                                     \
  X(OUT_OF_MEMORY, "memory for the weights, KV cache or scratch cannot be had; the message gives the size") \
  X(UNSUPPORTED_ISA, "a forced kernel set (HALFBYTE_FORCE_ISA) this CPU lacks")                           \
  X(STATE_BAD_FILE, "a session file that is damaged or not a session file")                              \
  X(STATE_MODEL_MISMATCH, "a session file saved from another model")                                      \
  X(NO_CHAT_TEMPLATE, "the model has no chat template and none was given")                                \
  X(INVALID_CHAT_TEMPLATE, "a chat template that does not parse or fails to render")                      \
  X(GRAMMAR_SYNTAX, "a GBNF grammar that does not parse")                                                 \
  X(GRAMMAR_NO_TOKEN, "no token of the vocabulary can continue the grammar")                              \
  X(GRAMMAR_REJECTED, "text or a token the grammar does not accept")                                      \
  X(GRAMMAR_INCOMPLETE, "generation ended before the grammar was satisfied")                              \
  X(UNSUPPORTED_SCHEMA, "a JSON schema keyword a grammar cannot enforce")                                 \
  X(INVALID_TOOL_CALL, "a tool call whose arguments do not parse or match the tool")                      \
  X(TOOL_LOOP_LIMIT, "more tool-call rounds than maxToolRounds")                                          \
  X(UNSUPPORTED_SOURCE, "quantizing already-quantized tensors without allowRequantize")                   \
  X(UNKNOWN_QUANTIZATION, "a quantization type halfbyte does not write")                                  \
  X(NETWORK_ERROR, "a download failed")                                                                   \
  X(CHECKSUM_MISMATCH, "a downloaded file does not match the hub's sha256")                               \
  X(MODEL_NOT_CACHED, "a model reference that is not in the local cache")                                 \
  X(INVALID_TASK, "an evaluation task file line that is not JSON or has a missing or wrong field (names line and field)") \
  X(SQLITE_UNAVAILABLE, "sql evaluation tasks need SQLite: node:sqlite (Node 22.13+) or the optional sql.js package") \
  X(GPU_OUT_OF_MEMORY, "the GPU has no room for the weights, KV cache or scratch; the message gives the size")  \
  X(GPU_ERROR, "a GPU backend call failed (driver, device or kernel error); the message names the call")      \
  X(GPU_UNAVAILABLE, "load with gpu: 'cuda' on a binary built without CUDA or a machine without a usable device") \
  X(INTERNAL, "a bug in halfbyte: please report it with the message")

#include <cstring>

namespace hb {

// True when `code` is in the registry (the native tests check every code they expect).
inline bool is_error_code(const char* code) {
#define HB_ERROR_CODE_IS(name, meaning) \
  if (std::strcmp(code, #name) == 0) return true;
  HB_ERROR_CODES(HB_ERROR_CODE_IS)
#undef HB_ERROR_CODE_IS
  return false;
}

}  // namespace hb
