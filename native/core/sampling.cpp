// Token sampling, following llama.cpp's sampler semantics step by step:
//   repetition penalty (each distinct recent token once: positive logit / penalty, else * penalty)
//   -> top-k (keep the k largest) -> top-p (smallest prefix of the sorted softmax reaching p)
//   -> min-p (keep logits >= max + log(p)) -> temperature (logits / t) -> draw from the softmax.
// temperature <= 0: argmax of the penalized logits (first index wins ties).
#include "sampling.h"

#include <algorithm>
#include <cmath>

namespace hb {

namespace {

bool by_logit_desc(const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
  // Ties broken by id so the order (and thus every draw) never depends on the sort algorithm.
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

}  // namespace

Sampler::Sampler(const SamplerParams& p) : p_(p) {
  // mt19937 takes 32 bits; fold the 64-bit seed so both halves matter.
  rng_.seed(static_cast<uint32_t>(p.seed ^ (p.seed >> 32)));
}

void Sampler::accept(int32_t token) {
  if (p_.repeat_last_n == 0) return;
  // repeat_last_n < 0 means "the whole history" in llama.cpp; keep a generous bounded window.
  const size_t window = p_.repeat_last_n > 0 ? static_cast<size_t>(p_.repeat_last_n) : 4096;
  recent_.push_back(token);
  while (recent_.size() > window) recent_.pop_front();
}

// logits (n_vocab,) -> token id
int32_t Sampler::sample(const float* logits, int32_t n_vocab) {
  if (n_vocab <= 0) return -1;
  cand_.resize(static_cast<size_t>(n_vocab));  // allocates only on the first call
  for (int32_t i = 0; i < n_vocab; i++) cand_[i] = {logits[i], i};

  // Repetition penalty: candidates are still indexed by id here.
  if (p_.repeat_penalty != 1.0f && p_.repeat_penalty > 0.0f) {
    for (size_t j = 0; j < recent_.size(); j++) {
      int32_t tok = recent_[j];
      if (tok < 0 || tok >= n_vocab) continue;
      bool seen_before = false;  // penalize each distinct token once, like llama.cpp's counts map
      for (size_t k = 0; k < j && !seen_before; k++) seen_before = recent_[k] == tok;
      if (seen_before) continue;
      float& l = cand_[tok].first;
      l = l > 0.0f ? l / p_.repeat_penalty : l * p_.repeat_penalty;
    }
  }

  if (p_.temperature <= 0.0f) {
    int32_t best = 0;
    for (int32_t i = 1; i < n_vocab; i++)
      if (cand_[i].first > cand_[best].first) best = i;
    return best;
  }

  size_t n = cand_.size();
  bool sorted = false;
  // top-k
  if (p_.top_k > 0 && static_cast<size_t>(p_.top_k) < n) {
    size_t k = static_cast<size_t>(p_.top_k);
    std::partial_sort(cand_.begin(), cand_.begin() + k, cand_.begin() + n, by_logit_desc);
    n = k;
    sorted = true;
  }
  // top-p over the softmax of the remaining candidates (keeps at least one)
  if (p_.top_p < 1.0f) {
    if (!sorted) std::sort(cand_.begin(), cand_.begin() + n, by_logit_desc), sorted = true;
    const float max_l = cand_[0].first;
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += std::exp(cand_[i].first - max_l);
    double cum = 0;
    for (size_t i = 0; i < n; i++) {
      cum += std::exp(cand_[i].first - max_l) / sum;
      if (cum >= p_.top_p) {
        n = i + 1;
        break;
      }
    }
  }
  // min-p: keep logits within log(p) of the best (probability >= p * max probability)
  if (p_.min_p > 0.0f && n > 1) {
    float max_l = cand_[0].first;
    if (!sorted)
      for (size_t i = 1; i < n; i++) max_l = std::max(max_l, cand_[i].first);
    const float min_l = max_l + std::log(p_.min_p);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
      if (cand_[i].first >= min_l) cand_[kept++] = cand_[i];  // order preserved
    n = std::max<size_t>(kept, 1);
  }
  // temperature, softmax, draw
  const float inv_t = 1.0f / p_.temperature;
  float max_l = cand_[0].first;
  for (size_t i = 1; i < n; i++) max_l = std::max(max_l, cand_[i].first);
  double sum = 0;
  for (size_t i = 0; i < n; i++) {
    float pr = std::exp((cand_[i].first - max_l) * inv_t);
    cand_[i].first = pr;  // candidates now hold unnormalized probabilities
    sum += pr;
  }
  // u in [0, 1) from 53 random bits
  const uint64_t hi = rng_() >> 5, lo = rng_() >> 6;  // 27 + 26 bits
  const double u = (static_cast<double>(hi) * 67108864.0 + static_cast<double>(lo)) / 9007199254740992.0;
  const double target = u * sum;
  double cum = 0;
  for (size_t i = 0; i < n; i++) {
    cum += cand_[i].first;
    if (target < cum) return cand_[i].second;
  }
  return cand_[n - 1].second;  // rounding at the very top
}

}  // namespace hb
