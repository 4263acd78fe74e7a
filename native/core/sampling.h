// Token sampling with llama.cpp's default chain and defaults:
// repetition penalty -> top-k -> top-p -> min-p -> temperature -> draw (temperature 0: argmax).
#pragma once
#include <cstdint>
#include <deque>
#include <random>
#include <vector>

namespace hb {

struct SamplerParams {
  float temperature = 0.8f;    // <= 0: greedy
  int32_t top_k = 40;          // <= 0: off
  float top_p = 0.95f;         // >= 1: off
  float min_p = 0.05f;         // <= 0: off
  float repeat_penalty = 1.0f; // 1: off (llama.cpp's default)
  int32_t repeat_last_n = 64;  // window of recent tokens the penalty looks at
  uint64_t seed = 0xFFFFFFFFull;  // fixed seed -> reproducible draws
};

class Sampler {
 public:
  explicit Sampler(const SamplerParams& p);
  // logits (n_vocab,) -> token id. Does not modify logits.
  int32_t sample(const float* logits, int32_t n_vocab);
  // Records a token (prompt or generated) for the repetition penalty.
  void accept(int32_t token);

 private:
  SamplerParams p_;
  std::mt19937 rng_;
  std::deque<int32_t> recent_;
  std::vector<std::pair<float, int32_t>> cand_;  // reused scratch, no per-token allocation
};

}  // namespace hb
