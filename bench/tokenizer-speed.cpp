// Tokenizer throughput: tokenizes ~1 MB of generated English (common words; and "rare", with
// half the words made up, defeating the per-call word cache) and ~1 MB of mixed-script text with
// the llama-bpe, qwen2 and llama-spm vocabularies and prints MB/s (CPU time, so a busy machine
// does not skew it; wall time alongside).
// Build: g++ -O2 -std=c++17 bench/tokenizer-speed.cpp native/core/{ggml_types,gguf,tokenizer,unicode,unicode_regex,unicode_tables}.cpp -o /tmp/tok-speed
// Run:   /tmp/tok-speed [test/fixtures/tokenizer]
#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "../native/core/gguf.h"
#include "../native/core/tokenizer.h"

namespace {

std::string english(size_t bytes, uint32_t seed) {
  static const char* words[] = {
      "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not", "he", "I",
      "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they", "you", "were", "their", "one", "all",
      "we", "can", "her", "has", "there", "been", "if", "more", "when", "will", "would", "who", "so", "no", "model", "language",
      "tokenizer", "quickly", "running", "mountain", "river", "children", "government", "information", "development",
      "understanding", "beautiful", "however", "although", "everything", "something", "question", "answer", "problem", "system",
      "London", "Paris", "Monday", "September", "GPU", "CPU", "it's", "don't", "we're", "they've", "I'll", "she'd", "isn't"};
  const size_t n_words = sizeof(words) / sizeof(words[0]);
  std::mt19937 rng(seed);
  std::string s;
  s.reserve(bytes + 256);
  while (s.size() < bytes) {
    const int len = 5 + static_cast<int>(rng() % 20);
    for (int i = 0; i < len; ++i) {
      std::string w = words[rng() % n_words];
      if (i == 0) w[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(w[0])));
      s += w;
      const uint32_t r = rng() % 40;
      if (r == 0) s += ",";
      if (r == 1) s += " " + std::to_string(rng() % 100000);
      if (r == 2) s += " (" + std::string(words[rng() % n_words]) + ")";
      if (i + 1 < len) s += ' ';
    }
    const uint32_t end = rng() % 10;
    s += end == 0 ? "?" : end == 1 ? "!" : ".";
    s += (rng() % 6 == 0) ? "\n\n" : " ";
  }
  return s;
}

// Prose-like text where half the words are made-up syllable strings, so almost every word is
// new: the worst case for the per-call word cache.
std::string english_rare(size_t bytes, uint32_t seed) {
  static const char* syl[] = {"ka", "lo", "mi", "ver", "tan", "sh", "ro", "qu", "ent", "ion", "ble", "str", "ph", "ou", "ea",
                              "ing", "dr", "ck", "ar", "ze", "ny", "gh", "th", "pl", "ux"};
  const std::string base = english(bytes, seed);
  std::mt19937 rng(seed + 7);
  std::string s;
  s.reserve(bytes + 256);
  size_t i = 0;
  while (s.size() < bytes && i < base.size()) {
    if (base[i] == ' ' && rng() % 2 == 0) {
      s += ' ';
      const int k = 2 + static_cast<int>(rng() % 4);
      for (int j = 0; j < k; ++j) s += syl[rng() % (sizeof(syl) / sizeof(syl[0]))];
    }
    s += base[i++];
  }
  return s;
}

std::string mixed(size_t bytes, uint32_t seed) {
  static const char* sentences[] = {
      "The quick brown fox jumps over the lazy dog. ",
      "\xE4\xBB\x8A\xE5\xA4\xA9\xE5\xA4\xA9\xE6\xB0\x94\xE5\xBE\x88\xE5\xA5\xBD\xEF\xBC\x8C\xE6\x88\x91\xE4\xBB\xAC\xE5\x8E\xBB\xE5\x85\xAC\xE5\x9B\xAD\xE6\x95\xA3\xE6\xAD\xA5\xE5\x90\xA7\xE3\x80\x82",
      "\xD0\x91\xD1\x8B\xD1\x81\xD1\x82\xD1\x80\xD0\xB0\xD1\x8F \xD0\xBA\xD0\xBE\xD1\x80\xD0\xB8\xD1\x87\xD0\xBD\xD0\xB5\xD0\xB2\xD0\xB0\xD1\x8F \xD0\xBB\xD0\xB8\xD1\x81\xD0\xB0 \xD0\xBF\xD1\x80\xD1\x8B\xD0\xB3\xD0\xB0\xD0\xB5\xD1\x82 \xD1\x87\xD0\xB5\xD1\x80\xD0\xB5\xD0\xB7 \xD0\xBB\xD0\xB5\xD0\xBD\xD0\xB8\xD0\xB2\xD1\x83\xD1\x8E \xD1\x81\xD0\xBE\xD0\xB1\xD0\xB0\xD0\xBA\xD1\x83. ",
      "\xD8\xA7\xD9\x84\xD8\xB3\xD9\x84\xD8\xA7\xD9\x85 \xD8\xB9\xD9\x84\xD9\x8A\xD9\x83\xD9\x85\xD8\x8C \xD9\x83\xD9\x8A\xD9\x81 \xD8\xAD\xD8\xA7\xD9\x84\xD9\x83 \xD8\xA7\xD9\x84\xD9\x8A\xD9\x88\xD9\x85\xD8\x9F ",
      "\xE0\xA4\xA8\xE0\xA4\xAE\xE0\xA4\xB8\xE0\xA5\x8D\xE0\xA4\xA4\xE0\xA5\x87, \xE0\xA4\x86\xE0\xA4\xAA \xE0\xA4\x95\xE0\xA5\x88\xE0\xA4\xB8\xE0\xA5\x87 \xE0\xA4\xB9\xE0\xA5\x88\xE0\xA4\x82? ",
      "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88\xE3\x82\x82\xE5\x85\xA5\xE3\x82\x8C\xE3\x81\xBE\xE3\x81\x99\xE3\x80\x82",
      "\xEC\x95\x88\xEB\x85\x95\xED\x95\x98\xEC\x84\xB8\xEC\x9A\x94, \xEB\xB0\x98\xEA\xB0\x91\xEC\x8A\xB5\xEB\x8B\x88\xEB\x8B\xA4! ",
      "\xCE\x93\xCE\xB5\xCE\xB9\xCE\xAC \xCF\x83\xCE\xBF\xCF\x85 \xCE\xBA\xCF\x8C\xCF\x83\xCE\xBC\xCE\xB5! ",
      "Caf\xC3\xA9 cr\xC3\xA8me br\xC3\xBB" "l\xC3\xA9" "e co\xC3\xBB" "te 12,50 \xE2\x82\xAC. ",
      "\xF0\x9F\x98\x80\xF0\x9F\x9A\x80 emoji \xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD and 3.14159 \xE2\x80\x94 done. ",
      "def f(x):\n    return x * 2  # code\n",
  };
  const size_t n = sizeof(sentences) / sizeof(sentences[0]);
  std::mt19937 rng(seed);
  std::string s;
  s.reserve(bytes + 256);
  while (s.size() < bytes) {
    s += sentences[rng() % n];
    if (rng() % 8 == 0) s += "\n";
  }
  return s;
}

double cpu_seconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "test/fixtures/tokenizer";
  const std::string en = english(1 << 20, 1), rare = english_rare(1 << 20, 3), mx = mixed(1 << 20, 2);
  const std::pair<const char*, const std::string*> texts[] = {{"english", &en}, {"rare", &rare}, {"mixed", &mx}};
  std::printf("%-10s %-8s %10s %10s %10s %10s\n", "vocab", "text", "MB", "tokens", "MB/s cpu", "MB/s wall");
  for (const char* name : {"llama-bpe", "qwen2", "llama-spm"}) {
    auto g = hb::GgufFile::open(dir + "/ggml-vocab-" + name + ".gguf", true);
    auto tok = hb::Tokenizer::from_gguf(*g);
    for (const auto& named : texts) {
      const std::string& text = *named.second;
      const double c0 = cpu_seconds();
      const auto w0 = std::chrono::steady_clock::now();
      const std::vector<int32_t> ids = tok->tokenize(text, false, false);
      const double cpu = cpu_seconds() - c0;
      const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
      const double mb = text.size() / 1048576.0;
      std::printf("%-10s %-8s %10.2f %10zu %10.1f %10.1f\n", name, named.first, mb, ids.size(), mb / cpu, mb / wall);
      if (tok->detokenize(ids, false).size() == 0) return 1;
    }
  }
  return 0;
}
