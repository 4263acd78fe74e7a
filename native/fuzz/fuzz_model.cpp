// Model construction and the forward pass over arbitrary GGUF bytes (seeds: the micro model of
// every architecture): hyperparameters, tensor shapes and types, then two decode steps.
#include <memory>
#include <vector>

#include "../core/gguf.h"
#include "../core/model.h"
#include "../core/tokenizer.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hbfuzz::expect_typed([&] {
    hb::LoadOptions o;
    o.threads = 1;
    o.pack_weights = (size & 1) != 0;  // both weight layouts
    std::unique_ptr<hb::Model> m = hb::Model::from_gguf(hb::GgufFile::parse(data, size), o);
    hb::Context ctx(*m, 8);
    std::vector<int32_t> prompt = m->tokenizer().tokenize("Once upon", true, false);
    if (prompt.empty()) prompt.push_back(0);
    if (prompt.size() > 6) prompt.resize(6);
    std::vector<float> logits;
    ctx.decode(prompt.data(), static_cast<int64_t>(prompt.size()), false, logits);
    const int32_t next = 0;
    ctx.decode(&next, 1, false, logits);
  });
  return 0;
}
