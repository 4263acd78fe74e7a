// Token sampling: a chain of stages in a fixed, documented order, each with llama.cpp's
// semantics and off by default unless noted:
//   1. grammar        only tokens that keep the output inside the grammar (grammar.h)
//   2. logit bias     logit += bias[id]
//   3. penalties      over the last repeat_last_n tokens: repetition (positive logit / p, else
//                     * p; default 1: off), then - count * frequency - (count > 0) * presence
//   4. DRY            - multiplier * base^(n - allowed_length) for a token that would extend a
//                     repeat of length n >= allowed_length (sequence breakers cut repeats)
//   greedy (temperature <= 0): the argmax of what is left (first index wins ties). Otherwise:
//   mirostat v2 (if on): temperature, then keep tokens of surprise <= mu, draw, update mu
//   else: 5. top-k (default 40)  6. typical-p  7. top-p (default 0.95)  8. min-p (default 0.05)
//         9. XTC  10. temperature (default 0.8)  11. draw from the softmax
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "grammar.h"

namespace hb {



struct SamplerParams {
  float temperature = 0.8f;    // <= 0: greedy
  int32_t top_k = 40;          // <= 0: off
  float top_p = 0.95f;         // >= 1: off
  float min_p = 0.05f;         // <= 0: off
  float typical_p = 1.0f;      // >= 1: off
  float repeat_penalty = 1.0f; // 1: off (llama.cpp's default)
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  int32_t repeat_last_n = 64;  // window of recent tokens the penalties look at
  // DRY ("don't repeat yourself"): off when multiplier is 0.
  float dry_multiplier = 0.0f;
  float dry_base = 1.75f;
  int32_t dry_allowed_length = 2;
  int32_t dry_penalty_last_n = -1;  // -1: the whole history kept (up to 8192 tokens)
  // Each breaker as token sequences: {head, tail...}; a single-token breaker has no tail. A
  // repeat never extends across a breaker, and a single-token breaker is never penalized.
  std::vector<std::vector<int32_t>> dry_breakers;
  // XTC ("exclude top choices"): with this probability, drop every token of probability >=
  // threshold but the least likely of them. Off when probability is 0 (or threshold > 0.5).
  float xtc_probability = 0.0f;
  float xtc_threshold = 0.1f;
  // Mirostat v2: off unless enabled; target surprise tau, learning rate eta.
  bool mirostat = false;
  float mirostat_tau = 5.0f;
  float mirostat_eta = 0.1f;
  std::vector<std::pair<int32_t, float>> logit_bias;  // id, bias (-inf bans)
  uint64_t seed = 0xFFFFFFFFull;  // fixed seed -> reproducible draws
};

class Sampler {
 public:
  explicit Sampler(const SamplerParams& p, std::unique_ptr<GrammarMatcher> grammar = nullptr);
  ~Sampler();
  // logits (n_vocab,) -> token id. Does not modify logits. Throws GRAMMAR_NO_TOKEN when the
  // grammar allows no token.
  int32_t sample(const float* logits, int32_t n_vocab);
  // Records a token of the history (prompt or generated) for the penalties and DRY.
  void accept(int32_t token);
  // Records a sampled token: accept(), and the grammar moves past it.
  void accept_sampled(int32_t token);
  GrammarMatcher* grammar() { return grammar_.get(); }
  float mirostat_mu() const { return mu_; }

  // The candidates after stages 1..stage (stage <= 9, as numbered above), for tests: (id, logit)
  // sorted by id. Stage 9 (XTC) draws from the generator as sampling does.
  // lazy: as sample() does it (with a grammar and top-k, the best allowed tokens found one by one).
  std::vector<std::pair<int32_t, float>> candidates_after(const float* logits, int32_t n_vocab, int stage, bool lazy = false);

 private:
  struct Cand {
    float logit;
    int32_t id;
  };
  // Runs stages 1..last on cand_ (n_ kept); returns false if greedy or mirostat took over.
  void prepare(const float* logits, int32_t n_vocab, int last, bool lazy = false);
  void filter(int last);
  bool lazy_grammar(size_t want);
  void penalize();
  void dry();
  double uniform();
  int32_t draw_softmax(float inv_t);

  SamplerParams p_;
  std::unique_ptr<GrammarMatcher> grammar_;
  std::mt19937 rng_;
  std::deque<int32_t> recent_;  // penalties' window
  std::deque<int32_t> history_; // DRY's window
  std::vector<Cand> cand_;      // reused scratch, no per-token allocation
  size_t n_ = 0;
  bool sorted_ = false;
  float mu_ = 0;
  std::vector<float> scratch_;
  std::vector<int32_t> counts_;  // per-id counts in the penalties' window (n_vocab, lazily)
};

}  // namespace hb
