// Token sampling (sampling.h), following llama.cpp's samplers step by step.
#include "sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "error.h"
#include "grammar.h"

namespace hb {

namespace {

bool by_logit_desc_pair(float a_logit, int32_t a_id, float b_logit, int32_t b_id) {
  // Ties broken by id so the order (and thus every draw) never depends on the sort algorithm.
  return a_logit > b_logit || (a_logit == b_logit && a_id < b_id);
}

constexpr size_t kDryMaxHistory = 8192;

}  // namespace

Sampler::Sampler(const SamplerParams& p, std::unique_ptr<GrammarMatcher> grammar) : p_(p), grammar_(std::move(grammar)) {
  // mt19937 takes 32 bits; fold the 64-bit seed so both halves matter.
  rng_.seed(static_cast<uint32_t>(p.seed ^ (p.seed >> 32)));
  mu_ = 2.0f * p.mirostat_tau;
}

Sampler::~Sampler() = default;

void Sampler::accept(int32_t token) {
  if (p_.repeat_last_n != 0) {
    // repeat_last_n < 0 means "the whole history" in llama.cpp; keep a generous bounded window.
    const size_t window = p_.repeat_last_n > 0 ? static_cast<size_t>(p_.repeat_last_n) : 4096;
    recent_.push_back(token);
    while (recent_.size() > window) recent_.pop_front();
  }
  if (p_.dry_multiplier != 0.0f && p_.dry_penalty_last_n != 0) {
    const size_t window = p_.dry_penalty_last_n > 0 ? std::min<size_t>(static_cast<size_t>(p_.dry_penalty_last_n), kDryMaxHistory)
                                                    : kDryMaxHistory;
    history_.push_back(token);
    while (history_.size() > window) history_.pop_front();
  }
}

void Sampler::accept_sampled(int32_t token) {
  accept(token);
  if (grammar_) grammar_->accept(token);
}

double Sampler::uniform() {
  // u in [0, 1) from 53 random bits
  const uint64_t hi = rng_() >> 5, lo = rng_() >> 6;  // 27 + 26 bits
  return (static_cast<double>(hi) * 67108864.0 + static_cast<double>(lo)) / 9007199254740992.0;
}

// Stage 3 on the full array (index = id): each distinct token of the window once.
void Sampler::penalize() {
  const bool repeat = p_.repeat_penalty != 1.0f && p_.repeat_penalty > 0.0f;
  if (recent_.empty() || (!repeat && p_.presence_penalty == 0.0f && p_.frequency_penalty == 0.0f)) return;
  const int32_t n_vocab = static_cast<int32_t>(cand_.size());
  counts_.assign(cand_.size(), 0);
  for (int32_t tok : recent_)
    if (tok >= 0 && tok < n_vocab) counts_[static_cast<size_t>(tok)]++;
  for (size_t j = 0; j < recent_.size(); j++) {
    const int32_t tok = recent_[j];
    if (tok < 0 || tok >= n_vocab) continue;
    const int32_t count = counts_[static_cast<size_t>(tok)];
    if (count == 0) continue;  // already done
    counts_[static_cast<size_t>(tok)] = 0;
    float& l = cand_[static_cast<size_t>(tok)].logit;
    if (repeat) l = l > 0.0f ? l / p_.repeat_penalty : l * p_.repeat_penalty;
    l -= static_cast<float>(count) * p_.frequency_penalty + p_.presence_penalty;
  }
}

// Stage 4 on the full array: llama.cpp's DRY. rat(i) is the i-th token from the end.
void Sampler::dry() {
  if (p_.dry_multiplier == 0.0f || p_.dry_base < 1.0f || p_.dry_penalty_last_n == 0) return;
  const int n = static_cast<int>(history_.size());
  if (n <= p_.dry_allowed_length) return;
  auto rat = [&](int i) { return history_[static_cast<size_t>(n - 1 - i)]; };
  // A breaker cuts repeats: find the nearest one from the end (head token, and its tail tokens
  // before it), which limits how long a repeat may be.
  int rep_limit = n;
  for (int i = 0; i < n && rep_limit == n; i++) {
    int longest = -1;
    for (const std::vector<int32_t>& b : p_.dry_breakers) {
      if (b.empty() || b[0] != rat(i)) continue;
      const int tail = static_cast<int>(b.size()) - 1;
      if (tail <= longest || tail > i) continue;
      bool match = true;
      for (int o = 0; o < tail && match; o++) match = b[static_cast<size_t>(1 + o)] == rat(i - o - 1);
      if (match) longest = tail;
    }
    if (longest >= 0) rep_limit = i - longest;
  }
  if (rep_limit < p_.dry_allowed_length) return;
  // z[k]: how many tokens ending k from the end equal the last ones (Z-function of the reversed
  // history), capped at rep_limit; the token after such a repeat would extend it.
  std::vector<int> z(static_cast<size_t>(n), 0);
  for (int k = 1, l = 0, r = 0; k < n; k++) {
    int len = 0;
    if (k <= r) len = std::min(r - k + 1, z[static_cast<size_t>(k - l)]);
    while (k + len < n && rat(len) == rat(k + len)) len++;
    z[static_cast<size_t>(k)] = len;
    if (k + len - 1 > r) l = k, r = k + len - 1;
  }
  std::vector<std::pair<int32_t, int>> longest;  // token -> longest repeat it would extend
  for (int k = 1; k < n; k++) {
    const int len = std::min(z[static_cast<size_t>(k)], rep_limit);
    if (len < p_.dry_allowed_length) continue;
    const int32_t next = rat(k - 1);  // the token that followed the repeat ending k from the end
    bool found = false;
    for (auto& e : longest)
      if (e.first == next) e.second = std::max(e.second, len), found = true;
    if (!found) longest.emplace_back(next, len);
  }
  const float float_max_log = 88.7228391f;
  const int max_exponent = p_.dry_base > 1.000001f ? static_cast<int>(float_max_log / std::log(p_.dry_base)) : 0;
  for (const auto& e : longest) {
    if (e.first < 0 || e.first >= static_cast<int32_t>(cand_.size())) continue;
    bool single_breaker = false;
    for (const std::vector<int32_t>& b : p_.dry_breakers) single_breaker = single_breaker || (b.size() == 1 && b[0] == e.first);
    if (single_breaker) continue;
    int exponent = e.second - p_.dry_allowed_length;
    if (max_exponent > 0 && exponent > max_exponent) exponent = max_exponent;
    cand_[static_cast<size_t>(e.first)].logit -= p_.dry_multiplier * std::pow(p_.dry_base, static_cast<float>(exponent));
  }
}

void Sampler::prepare(const float* logits, int32_t n_vocab, int last, bool lazy) {
  cand_.resize(static_cast<size_t>(n_vocab));  // allocates only on the first call
  for (int32_t i = 0; i < n_vocab; i++) cand_[static_cast<size_t>(i)] = {logits[i], i};
  n_ = cand_.size();
  sorted_ = false;
  // 2 .. 4 on the full array (index = id), then 1: the grammar's mask and the bans drop
  // candidates (the result is the same as masking first: the stages are per token).
  if (last >= 2)
    for (const auto& b : p_.logit_bias)
      if (b.first >= 0 && b.first < n_vocab) cand_[static_cast<size_t>(b.first)].logit += b.second;
  if (last >= 3) penalize();
  if (last >= 4) dry();
  const bool bans = !p_.logit_bias.empty();
  // With greedy decoding or top-k, only the best allowed tokens matter: find them in logit order,
  // checking tokens one by one, instead of masking the whole vocabulary (the same result; the
  // full mask is the fallback when too many of the best tokens are not allowed).
  if (grammar_ && lazy && (p_.temperature <= 0.0f || (p_.top_k > 0 && !p_.mirostat))) {
    const size_t want = p_.temperature <= 0.0f ? 1 : static_cast<size_t>(p_.top_k);
    if (lazy_grammar(want)) return;
  }
  if (grammar_ || bans) {
    if (grammar_) {
      scratch_.assign(static_cast<size_t>(n_vocab), 0.0f);
      grammar_->apply(scratch_.data(), n_vocab);  // throws GRAMMAR_NO_TOKEN
    }
    size_t kept = 0;
    for (size_t i = 0; i < n_; i++) {
      const bool allowed = !grammar_ || scratch_[static_cast<size_t>(cand_[i].id)] == 0.0f;
      if (allowed && cand_[i].logit != -std::numeric_limits<float>::infinity()) cand_[kept++] = cand_[i];
    }
    if (kept == 0) fail("INVALID_ARGUMENT", "Expected a logit bias that leaves some token possible but it bans every token the grammar allows");
    n_ = kept;
  }
}

// cand_ (index = id) -> the best `want` allowed candidates, sorted best first (ties by id), as
// top-k would leave them after the grammar's mask. False (cand_ untouched) if that takes more
// than a few thousand checks: then the caller masks the vocabulary.
bool Sampler::lazy_grammar(size_t want) {
  const auto better = [](const Cand& a, const Cand& b) { return by_logit_desc_pair(a.logit, a.id, b.logit, b.id); };
  size_t sorted = 0, kept = 0, checked = 0;
  for (size_t chunk = 64; kept < want;) {
    const size_t upto = std::min(n_, sorted + chunk);
    if (upto == sorted) break;  // everything seen
    std::partial_sort(cand_.begin() + static_cast<long>(sorted), cand_.begin() + static_cast<long>(upto),
                      cand_.begin() + static_cast<long>(n_), better);
    for (size_t i = sorted; i < upto && kept < want; i++) {
      if (++checked > 4096) return false;
      const Cand c = cand_[i];
      if (c.logit == -std::numeric_limits<float>::infinity()) continue;  // banned
      if (grammar_->allowed_alone(c.id)) cand_[kept++] = c;             // kept <= i: order preserved
    }
    sorted = upto;
    chunk *= 4;
  }
  if (kept == 0) return false;  // nothing allowed among the best: the full mask decides (and reports)
  n_ = kept;
  sorted_ = true;
  return true;
}

int32_t Sampler::draw_softmax(float inv_t) {
  float max_l = cand_[0].logit;
  for (size_t i = 1; i < n_; i++) max_l = std::max(max_l, cand_[i].logit);
  double sum = 0;
  for (size_t i = 0; i < n_; i++) {
    float pr = std::exp((cand_[i].logit - max_l) * inv_t);
    cand_[i].logit = pr;  // candidates now hold unnormalized probabilities
    sum += pr;
  }
  const double target = uniform() * sum;
  double cum = 0;
  for (size_t i = 0; i < n_; i++) {
    cum += cand_[i].logit;
    if (target < cum) return cand_[i].id;
  }
  return cand_[n_ - 1].id;  // rounding at the very top
}

// Stages 5 .. last on the prepared candidates.
void Sampler::filter(int last) {
  auto sort_desc = [&] {
    std::sort(cand_.begin(), cand_.begin() + static_cast<long>(n_),
              [](const Cand& a, const Cand& b) { return by_logit_desc_pair(a.logit, a.id, b.logit, b.id); });
    sorted_ = true;
  };
  // 5. top-k
  if (last >= 5 && p_.top_k > 0 && static_cast<size_t>(p_.top_k) < n_) {
    const size_t k = static_cast<size_t>(p_.top_k);
    std::partial_sort(cand_.begin(), cand_.begin() + static_cast<long>(k), cand_.begin() + static_cast<long>(n_),
                      [](const Cand& a, const Cand& b) { return by_logit_desc_pair(a.logit, a.id, b.logit, b.id); });
    n_ = k;
    sorted_ = true;
  }
  // 6. typical-p: keep the tokens whose surprise is closest to the entropy, up to mass p
  if (last >= 6 && p_.typical_p < 1.0f && n_ > 1) {
    if (!sorted_) sort_desc();
    const float max_l = cand_[0].logit;
    double sum = 0;
    for (size_t i = 0; i < n_; i++) sum += std::exp(static_cast<double>(cand_[i].logit - max_l));
    std::vector<double> prob(n_), shifted(n_);
    double entropy = 0;
    for (size_t i = 0; i < n_; i++) {
      prob[i] = std::exp(static_cast<double>(cand_[i].logit - max_l)) / sum;
      entropy += -prob[i] * std::log(prob[i]);
    }
    for (size_t i = 0; i < n_; i++) shifted[i] = std::fabs(-std::log(prob[i]) - entropy);
    std::vector<size_t> order(n_);
    std::iota(order.begin(), order.end(), size_t(0));
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return shifted[a] < shifted[b]; });
    double cum = 0;
    size_t last = n_;
    for (size_t i = 0; i < n_; i++) {
      cum += prob[order[i]];
      if (cum > p_.typical_p) {
        last = i + 1;
        break;
      }
    }
    std::vector<Cand> kept(last);
    for (size_t i = 0; i < last; i++) kept[i] = cand_[order[i]];
    std::copy(kept.begin(), kept.end(), cand_.begin());
    n_ = last;
    sorted_ = false;
  }
  // 7. top-p over the softmax of the remaining candidates (keeps at least one)
  if (last >= 7 && p_.top_p < 1.0f) {
    if (!sorted_) sort_desc();
    const float max_l = cand_[0].logit;
    double sum = 0;
    for (size_t i = 0; i < n_; i++) sum += std::exp(cand_[i].logit - max_l);
    double cum = 0;
    for (size_t i = 0; i < n_; i++) {
      cum += std::exp(cand_[i].logit - max_l) / sum;
      if (cum >= p_.top_p) {
        n_ = i + 1;
        break;
      }
    }
  }
  // 8. min-p: keep logits within log(p) of the best (probability >= p * max probability)
  if (last >= 8 && p_.min_p > 0.0f && n_ > 1) {
    float max_l = cand_[0].logit;
    if (!sorted_)
      for (size_t i = 1; i < n_; i++) max_l = std::max(max_l, cand_[i].logit);
    const float min_l = max_l + std::log(p_.min_p);
    size_t kept = 0;
    for (size_t i = 0; i < n_; i++)
      if (cand_[i].logit >= min_l) cand_[kept++] = cand_[i];  // order preserved
    n_ = std::max<size_t>(kept, 1);
  }
  // 9. XTC: sometimes drop the most likely tokens, keeping the least likely above the threshold
  if (last >= 9 && p_.xtc_probability > 0.0f && p_.xtc_threshold <= 0.5f && n_ >= 2 && uniform() <= p_.xtc_probability) {
    if (!sorted_) sort_desc();
    const float max_l = cand_[0].logit;
    double sum = 0;
    for (size_t i = 0; i < n_; i++) sum += std::exp(static_cast<double>(cand_[i].logit - max_l));
    size_t pos_last = 0;
    for (size_t i = 0; i < n_; i++) {
      if (std::exp(static_cast<double>(cand_[i].logit - max_l)) / sum >= p_.xtc_threshold) pos_last = i;
      else break;
    }
    if (pos_last > 0) {
      std::copy(cand_.begin() + static_cast<long>(pos_last), cand_.begin() + static_cast<long>(n_), cand_.begin());
      n_ -= pos_last;
    }
  }
}

// logits (n_vocab,) -> token id
int32_t Sampler::sample(const float* logits, int32_t n_vocab) {
  if (n_vocab <= 0) return -1;
  prepare(logits, n_vocab, 4, true);

  if (p_.temperature <= 0.0f) {
    size_t best = 0;  // the highest logit, the lowest id among equals
    for (size_t i = 1; i < n_; i++)
      if (by_logit_desc_pair(cand_[i].logit, cand_[i].id, cand_[best].logit, cand_[best].id)) best = i;
    return cand_[best].id;
  }

  auto sort_desc = [&] {
    std::sort(cand_.begin(), cand_.begin() + static_cast<long>(n_),
              [](const Cand& a, const Cand& b) { return by_logit_desc_pair(a.logit, a.id, b.logit, b.id); });
    sorted_ = true;
  };

  if (p_.mirostat) {
    // temperature, softmax (sorted), keep tokens of surprise -log2 p <= mu (at least one),
    // renormalize, draw; mu -= eta * (surprise of the draw - tau)
    const float inv_t = 1.0f / p_.temperature;
    for (size_t i = 0; i < n_; i++) cand_[i].logit *= inv_t;
    sort_desc();
    const float max_l = cand_[0].logit;
    double sum = 0;
    for (size_t i = 0; i < n_; i++) sum += std::exp(static_cast<double>(cand_[i].logit - max_l));
    size_t keep = 0;
    while (keep < n_ && -std::log2(std::exp(static_cast<double>(cand_[keep].logit - max_l)) / sum) <= mu_) keep++;
    n_ = std::max<size_t>(keep, 1);
    double kept_sum = 0;
    for (size_t i = 0; i < n_; i++) kept_sum += std::exp(static_cast<double>(cand_[i].logit - max_l));
    const double target = uniform() * kept_sum;
    double cum = 0;
    size_t pick = n_ - 1;
    for (size_t i = 0; i < n_; i++) {
      cum += std::exp(static_cast<double>(cand_[i].logit - max_l));
      if (target < cum) {
        pick = i;
        break;
      }
    }
    const double p = std::exp(static_cast<double>(cand_[pick].logit - max_l)) / kept_sum;
    mu_ -= p_.mirostat_eta * (static_cast<float>(-std::log2(p)) - p_.mirostat_tau);
    return cand_[pick].id;
  }

  filter(9);
  // 10, 11. temperature, softmax, draw
  return draw_softmax(1.0f / p_.temperature);
}

std::vector<std::pair<int32_t, float>> Sampler::candidates_after(const float* logits, int32_t n_vocab, int stage, bool lazy) {
  prepare(logits, n_vocab, std::min(stage, 4), lazy);
  if (stage >= 5) filter(stage);
  std::vector<std::pair<int32_t, float>> out;
  for (size_t i = 0; i < n_; i++) out.emplace_back(cand_[i].id, cand_[i].logit);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace hb
