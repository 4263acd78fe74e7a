// Session-file reader: arbitrary bytes loaded as a saved session into a context of the bundled
// stories260K model. The first run writes a real session file as the seed shape (see
// scripts/fuzz.mjs), so mutations start from valid files.
#include <memory>
#include <string>
#include <vector>

#include "../core/gguf_writer.h"
#include "../core/model.h"
#include "../core/platform.h"
#include "fuzz_common.h"

namespace {
const char kMagic[] = "halfbyte-fuzz-session";

hb::Model& model() {
  static std::unique_ptr<hb::Model> m = [] {
    hb::LoadOptions o;
    o.threads = 1;
    return hb::Model::load(hbfuzz::fixtures() + "/models/stories260K.gguf", o);
  }();
  return *m;
}

std::string scratch_path() {
  static const std::string p = hb::platform::temp_dir() + "/halfbyte-fuzz-state-" + std::to_string(hb::platform::process_id());
  return p;
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // HALFBYTE_FUZZ_WRITE_SEED=path: write one valid session file there and exit (the runner's seed).
  if (const char* seed = std::getenv("HALFBYTE_FUZZ_WRITE_SEED")) {
    hb::Context ctx(model(), 32);
    const std::vector<int32_t> tokens = {1, 400, 261, 300, 327, 289};
    std::vector<float> logits;
    ctx.decode(tokens.data(), static_cast<int64_t>(tokens.size()), false, logits);
    ctx.save_state(seed, kMagic, tokens);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = scratch_path();
  {
    std::FILE* f = hb::platform::create_file(path);
    if (!f) std::abort();
    if (size) std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  static hb::Context ctx(model(), 32);
  size_t cached = 0;
  hbfuzz::expect_typed([&] { cached = ctx.load_state(path, kMagic).size(); });
  // Loaded or refused (refused leaves it empty), the context must still decode: no corrupted state.
  std::vector<float> logits;
  const int32_t next = 13;
  if (cached < 31) ctx.decode(&next, 1, false, logits);
  return 0;
}
