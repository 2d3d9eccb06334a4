// UTF-8 validation and the GPT-2 byte mapping; encode speed on 1 MB of text and
// on pathological inputs (one long word, long whitespace runs, random bytes).
#include <chrono>
#include <set>

#include "tandem/tokenizer/unicode.h"
#include "test_util.h"

namespace tandem {
namespace {

TEST(Unicode, Validation) {
  EXPECT_TRUE(unicode::is_valid_utf8(""));
  EXPECT_TRUE(unicode::is_valid_utf8("aé日🦙"));
  for (std::string s : {"\x80", "\xC0\x80", "\xC1\xBF", "\xE0\x80\x80", "\xED\xA0\x80",
                        "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xFF", "\xE2\x82", "\xF0\x9F\xA6"})
    EXPECT_FALSE(unicode::is_valid_utf8(s)) << s;
  EXPECT_EQ(unicode::sanitize_utf8("a\xF0\x9F\xA6"
                                   "b\x80"),
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD");
  EXPECT_EQ(unicode::viable_prefix_length("\xF0\x9F\xA6", 0), 3u);
  EXPECT_EQ(unicode::viable_prefix_length("\xE0\x80", 0), 1u);
}

TEST(Unicode, ByteMappingIsABijection) {
  std::set<std::string> seen;
  for (int b = 0; b < 256; ++b) {
    std::string_view s = unicode::byte_to_utf8(static_cast<uint8_t>(b));
    ASSERT_TRUE(unicode::is_valid_utf8(s));
    seen.emplace(s);
    size_t n = unicode::valid_sequence_length(s, 0);
    EXPECT_EQ(unicode::byte_from_codepoint(unicode::decode_at(s, 0, n)), b);
  }
  EXPECT_EQ(seen.size(), 256u);
  EXPECT_EQ(unicode::byte_to_utf8(' '), "\xC4\xA0");  // "Ġ"
  EXPECT_EQ(unicode::byte_to_utf8('A'), "A");
}

double seconds_to_encode(const Tokenizer& t, const std::string& s, size_t* n_tokens) {
  auto t0 = std::chrono::steady_clock::now();
  *n_tokens = t.encode(s, false, false).size();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

class Speed : public ::testing::TestWithParam<std::string> {};

// Sanitizer and debug builds are ~15x slower: they encode 1/16 of the text.
#if defined(__SANITIZE_ADDRESS__) || !defined(NDEBUG)
constexpr size_t kScale = 16;
#else
constexpr size_t kScale = 1;
#endif

TEST_P(Speed, OneMegabyte) {
  TANDEM_LOAD_VOCAB_OR_SKIP(tok, GetParam());
  const size_t mib = (1 << 20) / kScale, quarter = mib / 4;
  std::mt19937 rng(5);
  std::string text;
  while (text.size() < mib) text += testing::random_text(rng, 100);
  text.resize(mib);  // may cut a character: fine, encode takes any bytes
  // Pathological inputs (one huge pre-token / SentencePiece segment) at 1/4
  // size: they show that encoding is not quadratic.
  std::string lines;
  while (lines.size() < quarter) lines += " \n  \n\t";
  const std::pair<const char*, std::string> inputs[] = {
      {"mixed text", text},
      {"one long word", std::string(quarter, 'a')},
      {"spaces", std::string(quarter, ' ')},
      {"newlines+spaces", lines},
      {"random bytes", testing::random_bytes(rng, quarter)},
  };
  for (const auto& [name, s] : inputs) {
    size_t n = 0;
    double sec = seconds_to_encode(*tok, s, &n);
    std::cout << fmt::format("[ speed    ] {:15s} {:16s} {:5d} KiB -> {:7d} tokens in {:.3f} s\n",
                             GetParam(), name, s.size() / 1024, n, sec);
    // Generous bound (shared, loaded machines); a quadratic encoder takes minutes.
    EXPECT_LT(sec, 10.0) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Vocabs, Speed, ::testing::ValuesIn(testing::vocab_names()),
                         testing::vocab_test_name);

}  // namespace
}  // namespace tandem
