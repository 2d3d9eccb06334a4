// Helpers for the tokenizer tests: the shared-data directory, the reference
// vocabularies (loaded once per process), the .inp/.out vector files, small
// hand-made GGUF vocabularies and a seeded random text generator.
// Test-only; load_vocab() is safe from one thread (gtest runs tests serially).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tandem/base/error.h"
#include "tandem/gguf/gguf.h"
#include "tandem/tokenizer/tokenizer.h"

namespace tandem::testing {

// $TANDEM_SHARED, else $TANDEM_SOURCE_DIR/../shared, else the compiled-in source dir.
inline std::filesystem::path shared_dir() {
  if (const char* s = std::getenv("TANDEM_SHARED"); s && *s) return s;
  if (const char* s = std::getenv("TANDEM_SOURCE_DIR"); s && *s)
    return std::filesystem::path(s) / ".." / "shared";
  return std::filesystem::path(TANDEM_SOURCE_DIR) / ".." / "shared";
}

inline std::filesystem::path vocab_path(const std::string& name) {
  return shared_dir() / "tokenizer-vectors" / ("ggml-vocab-" + name + ".gguf");
}

// Test-name generator for suites parameterised by vocabulary name.
inline std::string vocab_test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string n = info.param;
  for (char& c : n)
    if (c == '-') c = '_';
  return n;
}

inline const std::vector<std::string>& vocab_names() {
  static const std::vector<std::string> n = {"llama-spm", "phi-3",          "gpt-2",
                                             "starcoder", "deepseek-coder", "falcon"};
  return n;
}

// The tokenizer of a reference vocabulary, or nullptr when the file is absent.
inline const Tokenizer* load_vocab(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second.get();
  std::unique_ptr<Tokenizer> t;
  auto path = vocab_path(name);
  if (std::filesystem::exists(path)) t = Tokenizer::from_gguf(*gguf::File::open(path.string()));
  return cache.emplace(name, std::move(t)).first->second.get();
}

#define TANDEM_LOAD_VOCAB_OR_SKIP(var, name)                                              \
  const ::tandem::Tokenizer* var = ::tandem::testing::load_vocab(name);                   \
  if (!var)                                                                               \
  GTEST_SKIP() << ::tandem::testing::vocab_path(name) << " is absent (set TANDEM_SHARED " \
               << "to the shared/ directory that holds tokenizer-vectors/)"

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A writer-built GGUF opened again, for hand-made vocabularies.
class TempGguf {
 public:
  explicit TempGguf(const gguf::Writer& w) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tandem_tok_XXXXXX").string();
    int fd = ::mkstemp(tmpl.data());
    if (fd < 0) throw Error("mkstemp failed");
    ::close(fd);
    path_ = tmpl;
    w.write(path_);
    file_ = gguf::File::open(path_);
  }
  ~TempGguf() {
    file_.reset();
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  const gguf::File& file() const { return *file_; }

 private:
  std::string path_;
  std::unique_ptr<gguf::File> file_;
};

// Random UTF-8 text drawn from ASCII, whitespace runs, Latin-1, combining marks,
// Cyrillic, CJK, Hangul and emoji (with ZWJ sequences and variation selectors).
inline std::string random_text(std::mt19937& rng, size_t n_chars) {
  static const std::vector<std::string> pool = {
      "a",      "b",      "Z",        "0",           "7",      " ", "  ", "   ", "\n", "\n\n", "\t",
      "\r\n",   ".",      ",",        "'",           "'s",     "!", "?",  "(",   "<",  "|",    "é",
      "ß",      "Ä",      "ø",        "\xCC\x81",    "ж",      "Щ", "日", "本",  "語", "한",   "국",
      "🦙",   "😀",      "👍🏽", "🧑‍💻", "❤️", "ﬁ", "१",  "٣",   "½",  "€",    "—",
      "\u00A0", "\u3000", "ℝ",        "𝔸",           "ا",      "ש", "ก",
  };
  std::uniform_int_distribution<size_t> pick(0, pool.size() - 1);
  std::uniform_int_distribution<int> word(0, 9);
  std::string s;
  for (size_t i = 0; i < n_chars; ++i) {
    if (word(rng) < 4) {  // mostly words, so merges get exercised
      static const char* words[] = {"hello", " world", " the",    "ing",      " tokenizer",
                                    "ed",    " 12345", "foo_bar", "  indent", "Hello"};
      s += words[word(rng)];
    } else {
      s += pool[pick(rng)];
    }
  }
  return s;
}

inline std::string random_bytes(std::mt19937& rng, size_t n) {
  std::uniform_int_distribution<int> b(0, 255);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(b(rng));
  return s;
}

}  // namespace tandem::testing
