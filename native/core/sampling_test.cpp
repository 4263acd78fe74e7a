// Tests of the sampler chain (sampling.h): each stage against values computed by hand from
// llama.cpp's definitions, on small logit vectors.
#include <cmath>
#include <vector>

#include "../tests/check.h"
#include "grammar.h"
#include "sampling.h"

namespace {

hb::SamplerParams off() {
  hb::SamplerParams p;  // everything off but what a test turns on
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.temperature = 1.0f;
  return p;
}

std::vector<int32_t> ids_of(const std::vector<std::pair<int32_t, float>>& c) {
  std::vector<int32_t> out;
  for (const auto& e : c) out.push_back(e.first);
  return out;
}

}  // namespace

TEST(sampling_logit_bias_adds_and_bans) {
  hb::SamplerParams p = off();
  p.logit_bias = {{0, 5.0f}, {3, -INFINITY}, {99, 1.0f}};  // an id outside the vocabulary is ignored
  hb::Sampler s(p);
  const float logits[4] = {1, 2, 3, 4};
  auto c = s.candidates_after(logits, 4, 2);
  CHECK_EQ(c.size(), size_t(3));
  CHECK_EQ(c[0].second, 6.0f);
  CHECK_EQ(c[1].second, 2.0f);
  CHECK_EQ(c[2].second, 3.0f);
  p.temperature = 0;
  hb::Sampler greedy(p);
  CHECK_EQ(greedy.sample(logits, 4), 0);  // 6 beats the banned 4
}

TEST(sampling_presence_frequency_and_repeat_penalties) {
  hb::SamplerParams p = off();
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.25f;
  p.repeat_penalty = 2.0f;
  p.repeat_last_n = 3;
  hb::Sampler s(p);
  for (int32_t t : {3, 1, 1, 2}) s.accept(t);  // the window keeps the last 3: 1, 1, 2
  const float logits[4] = {1, 2, -1, 4};
  auto c = s.candidates_after(logits, 4, 3);
  CHECK_EQ(c[0].second, 1.0f);                  // not in the window
  CHECK_NEAR(c[1].second, 2.0f / 2 - 2 * 0.25f - 0.5f, 1e-7);   // count 2, positive: / 2
  CHECK_NEAR(c[2].second, -1.0f * 2 - 0.25f - 0.5f, 1e-7);      // count 1, negative: * 2
  CHECK_EQ(c[3].second, 4.0f);                  // fell out of the window
}

TEST(sampling_dry_penalizes_extending_repeats) {
  // llama.cpp's own example: a b c c b c y a b c. Repeat lengths ending at each position
  // 0 0 3 1 0 2 0 0 0 0, so emitting c would extend a repeat of 3 (a b c -> a b c c), y one of 2
  // (b c -> b c y). With allowed length 2, base 2, multiplier 1: c -2^(3-2), y -2^(2-2).
  const int32_t a = 0, b = 1, c = 2, y = 3;
  const std::vector<int32_t> history = {a, b, c, c, b, c, y, a, b, c};
  const float zeros[5] = {0, 0, 0, 0, 0};
  auto run = [&](std::vector<std::vector<int32_t>> breakers) {
    hb::SamplerParams p = off();
    p.dry_multiplier = 1.0f;
    p.dry_base = 2.0f;
    p.dry_allowed_length = 2;
    p.dry_breakers = std::move(breakers);
    hb::Sampler s(p);
    for (int32_t t : history) s.accept(t);
    return s.candidates_after(zeros, 5, 4);
  };
  auto plain = run({});
  CHECK_EQ(plain[a].second, 0.0f);
  CHECK_EQ(plain[b].second, 0.0f);
  CHECK_EQ(plain[c].second, -2.0f);
  CHECK_EQ(plain[y].second, -1.0f);
  CHECK_EQ(plain[4].second, 0.0f);
  // y as a single-token breaker: never penalized itself, and repeats may not cross it (the
  // nearest is 3 from the end, so repeats are capped at 3: c is unchanged).
  auto broken_y = run({{y}});
  CHECK_EQ(broken_y[c].second, -2.0f);
  CHECK_EQ(broken_y[y].second, 0.0f);
  // a as a breaker, 2 from the end: repeats capped at 2, so c's 3 counts as 2: -2^0.
  auto broken_a = run({{a}});
  CHECK_EQ(broken_a[c].second, -1.0f);
  CHECK_EQ(broken_a[y].second, -1.0f);
  // A two-token breaker "b c" (head b, then its tail c): the nearest b followed by c starts 1
  // from the end, so the limit 1 - 1 = 0 < 2 turns DRY off.
  auto broken_bc = run({{b, c}});
  CHECK_EQ(broken_bc[c].second, 0.0f);
  CHECK_EQ(broken_bc[y].second, 0.0f);
  // "b a" never occurs (no b is followed by a): nothing changes.
  auto broken_ba = run({{b, a}});
  CHECK_EQ(broken_ba[c].second, -2.0f);
  CHECK_EQ(broken_ba[y].second, -1.0f);
}

TEST(sampling_typical_p_keeps_the_locally_typical_tokens) {
  // p = .5 .3 .2: entropy H = 1.0297; |-ln p - H| = .3365, .1743, .5798, so by typicality the
  // order is 1, 0, 2; with typical_p .5 the mass passes .5 at the second: {1, 0}.
  hb::SamplerParams p = off();
  p.typical_p = 0.5f;
  hb::Sampler s(p);
  const float logits[3] = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  CHECK(ids_of(s.candidates_after(logits, 3, 6)) == (std::vector<int32_t>{0, 1}));
  p.typical_p = 0.2f;  // the most typical alone (0.3 > 0.2)
  hb::Sampler t(p);
  CHECK(ids_of(t.candidates_after(logits, 3, 6)) == (std::vector<int32_t>{1}));
}

TEST(sampling_xtc_drops_the_top_choices) {
  // p = .5 .3 .15 .05, threshold .2: .5 and .3 are above; all but the least likely of them go.
  hb::SamplerParams p = off();
  p.xtc_probability = 1.0f;
  p.xtc_threshold = 0.2f;
  hb::Sampler s(p);
  const float logits[4] = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  CHECK(ids_of(s.candidates_after(logits, 4, 9)) == (std::vector<int32_t>{1, 2, 3}));
  p.xtc_threshold = 0.4f;  // one above the threshold: nothing to drop
  hb::Sampler t(p);
  CHECK_EQ(t.candidates_after(logits, 4, 9).size(), size_t(4));
  p.xtc_threshold = 0.6f;  // over 0.5: off, as in llama.cpp
  hb::Sampler u(p);
  CHECK_EQ(u.candidates_after(logits, 4, 9).size(), size_t(4));
}

TEST(sampling_mirostat_v2_truncates_by_surprise_and_learns) {
  // tau 1, eta .5: mu starts at 2. Surprises -log2 p of .5 .3 .2 are 1, 1.74, 2.32: keep {0, 1},
  // renormalized .625 / .375; then mu -= eta * (-log2 p_drawn - tau).
  const float logits[3] = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  for (uint64_t seed : {1u, 2u, 3u, 4u, 5u, 6u}) {
    hb::SamplerParams p = off();
    p.mirostat = true;
    p.mirostat_tau = 1.0f;
    p.mirostat_eta = 0.5f;
    p.seed = seed;
    hb::Sampler s(p);
    CHECK_NEAR(s.mirostat_mu(), 2.0, 0);
    const int32_t t = s.sample(logits, 3);
    CHECK(t == 0 || t == 1);
    const double pr = t == 0 ? 0.625 : 0.375;
    CHECK_NEAR(s.mirostat_mu(), 2.0 - 0.5 * (-std::log2(pr) - 1.0), 1e-5);
  }
}

TEST(sampling_grammar_stage_comes_first) {
  auto trie = hb::TokenTrie::from_pieces({"a", "b", "ab", ""}, {3});
  auto gv = std::make_shared<hb::GrammarVocab>(hb::Grammar::parse("root ::= \"b\" \"a\"*\n"), trie);
  hb::SamplerParams p = off();
  p.temperature = 0;
  hb::Sampler s(p, std::make_unique<hb::GrammarMatcher>(gv));
  const float logits[4] = {5, 1, 4, 9};  // "a" and EOG lead, but the grammar needs "b" first
  CHECK_EQ(s.sample(logits, 4), 1);
  s.accept_sampled(1);
  CHECK_EQ(s.sample(logits, 4), 3);  // complete: EOG allowed now, and it has the top logit
  const float no_eog[4] = {5, 1, 4, -9};
  CHECK_EQ(s.sample(no_eog, 4), 0);  // "a"; "ab" is out (b may not follow)
}

TEST(sampling_grammar_top_k_found_lazily_equals_the_full_mask) {
  // A vocabulary of digits, letters and words; a grammar that allows few of them at some steps
  // and most at others. The best allowed top-k found token by token must equal the full mask's.
  std::vector<std::string> pieces;
  for (char c = '0'; c <= '9'; c++) pieces.push_back(std::string(1, c));
  for (char c = 'a'; c <= 'z'; c++) pieces.push_back(std::string(1, c));
  for (const char* w : {"ab", "abc", "12", "1a", "a1", "zz", "\"", "{", "}", ":", " "}) pieces.push_back(w);
  pieces.push_back("");  // EOG
  const int32_t n = static_cast<int32_t>(pieces.size());
  auto trie = hb::TokenTrie::from_pieces(pieces, {n - 1});
  auto gv = std::make_shared<hb::GrammarVocab>(hb::Grammar::parse("root ::= [a-z]+ [0-9]{2,3} \"zz\"?\n"), trie);
  uint32_t x = 12345;
  int compared = 0;
  for (int trial = 0; trial < 40; trial++) {
    std::vector<float> logits(static_cast<size_t>(n));
    for (float& l : logits) {
      x ^= x << 13, x ^= x >> 17, x ^= x << 5;
      l = static_cast<float>(x % 1000) / 100.0f;
    }
    hb::SamplerParams p = off();
    p.top_k = 1 + trial % 7;
    hb::Sampler lazy(p, std::make_unique<hb::GrammarMatcher>(gv)), full(p, std::make_unique<hb::GrammarMatcher>(gv));
    // the same position in both: a prefix drawn from the trial number
    const std::string prefix = std::string(1 + trial % 3, 'q') + (trial % 2 ? "7" : "");
    for (char ch : prefix) {
      const int32_t id = ch >= 'a' ? 10 + (ch - 'a') : ch - '0';
      lazy.accept_sampled(id);
      full.accept_sampled(id);
    }
    CHECK(lazy.candidates_after(logits.data(), n, 5, true) == full.candidates_after(logits.data(), n, 5, false));
    compared++;
  }
  CHECK_EQ(compared, 40);
}
