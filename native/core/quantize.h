// Quantization: float rows -> GGUF blocks of every type the engine loads, llama-quantize's type
// mixtures (which tensor gets which type), and the file-to-file driver behind `halfbyte quantize`.
//
// The row quantizers follow llama.cpp's algorithms without an importance matrix (the reference
// formulas for the 32-element types, the iterative scale/min searches for the k-quants, the
// best-scale search over the non-linear table for IQ4_NL / IQ4_XS), with the same arithmetic
// order, so a tensor quantized here normally matches llama-quantize's bit for bit.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ggml_types.h"

namespace hb {

class GgufFile;

// ---------------------------------------------------------------------------------------------
// Rows

// True for the types quantize_row can produce: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
// Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS.
bool can_quantize_to(GgmlType t);

// Bytes of n elements of type t (n a multiple of the type's block size).
size_t quant_row_bytes(GgmlType t, int64_t n);

// x (n,) floats -> y (quant_row_bytes(t, n) bytes) in type t. n must be a multiple of t's block
// size (INVALID_ARGUMENT otherwise, or UNSUPPORTED_TENSOR_TYPE for a type it cannot produce).
// Blocks are independent, so any run of whole blocks may be quantized on its own.
// x must be finite (checked by the file driver, not here).
void quantize_row(GgmlType t, const float* x, void* y, int64_t n);

// ---------------------------------------------------------------------------------------------
// Presets (llama-quantize's file types)

struct QuantPreset {
  const char* name;       // "Q4_K_M"
  uint32_t file_type;     // general.file_type (llama.cpp's LLAMA_FTYPE_* number)
  GgmlType default_type;  // the type of most matrices
};

// The preset named name (case-sensitive, as listed by quant_presets()), or nullptr.
const QuantPreset* find_quant_preset(const std::string& name);
const std::vector<QuantPreset>& quant_presets();

// What the type choice needs to know about a model.
struct PlanTensor {
  std::string name;
  uint32_t n_dims = 1;
  int64_t ne[4] = {1, 1, 1, 1};
  GgmlType type = GgmlType::F32;
};
struct PlanModel {
  std::string arch;
  int n_layer = 0;
  int n_head = 0;      // layer 0's
  int n_head_kv = 0;   // layer 0's
  int n_expert = 0;
  std::vector<PlanTensor> tensors;  // any order
};
// Reads arch, layer / head / expert counts and the tensor table from a parsed file.
PlanModel plan_model_from(const GgufFile& f);

struct PlanEntry {
  size_t source_index;  // into PlanModel::tensors
  std::string name;
  GgmlType from, to;
  bool fallback;        // `to` replaced the preset's choice because the row length did not fit it
};

// Output order (llama-quantize's: tensors outside layers first, then layer by layer, each group
// sorted by name) and the type of each tensor under preset (pure: every quantizable matrix gets
// the preset's default type; otherwise llama-quantize's mixture rules apply).
std::vector<PlanEntry> plan_quantization(const PlanModel& model, const QuantPreset& preset, bool pure);

// ---------------------------------------------------------------------------------------------
// Files

struct QuantizeProgress {
  const std::string* tensor;  // name of the tensor in progress
  size_t index;               // its position in the output, 0-based
  size_t count;               // tensors in the output
  uint64_t bytes_done;        // source tensor bytes processed so far (all tensors)
  uint64_t bytes_total;       // source tensor bytes in all
};

struct QuantizeOptions {
  std::string preset = "Q4_K_M";
  bool pure = false;
  bool allow_requantize = false;  // accept quantized source tensors (dequantized first)
  int threads = 0;                // 0: one per physical core
  // Called on the calling thread after every chunk of work; returning false aborts (ABORTED).
  std::function<bool(const QuantizeProgress&)> progress;
};

struct QuantizeResult {
  size_t tensors = 0;
  uint64_t input_bytes = 0;   // size of the source file
  uint64_t output_bytes = 0;  // size of the written file
  double seconds = 0;
};

// Quantizes the GGUF file in_path into out_path. The output is written to a temporary file next
// to out_path and renamed into place only when complete, so an error or an abort leaves no
// partial file (and an existing out_path untouched). Tensor data streams through in chunks: the
// source is mapped, never copied whole, and the output is never held in memory.
// Errors: FILE_NOT_FOUND / GGUF_* (source), INVALID_ARGUMENT (preset), UNSUPPORTED_SOURCE
// (a quantized source tensor without allow_requantize, or one halfbyte cannot dequantize),
// BAD_TENSOR_DATA (NaN/inf weights), FILE_WRITE_ERROR, ABORTED.
QuantizeResult quantize_file(const std::string& in_path, const std::string& out_path, const QuantizeOptions& options);

}  // namespace hb
