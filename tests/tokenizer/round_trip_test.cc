// encode -> decode reproduces the input for every reference vocabulary: random
// UTF-8 text (emoji, CJK, combining marks, whitespace runs, newlines) and random
// byte strings with invalid UTF-8. Every vocabulary here is lossless for such
// input: byte-level BPE maps every byte, SentencePiece falls back to byte
// tokens, and decode() drops the "▁" that encode() puts in front of the text.
// Known exceptions, not generated here: for "llama" vocabularies a literal
// U+2581 in the input decodes as a space, and the "▁" put after a matched
// special token is not undone.
#include <atomic>
#include <thread>

#include "tandem/tokenizer/unicode.h"
#include "test_util.h"

namespace tandem {
namespace {

class RoundTrip : public ::testing::TestWithParam<std::string> {};

// `s` without the bytes the vocabulary cannot represent. Byte-level
// vocabularies may lack tokens for bytes that never occur in UTF-8 (starcoder:
// C0 C1 F1 F5-FF; falcon also some control bytes; deepseek-coder has C0 C1
// F5-FF only as user-defined tokens, which stand for their text): encode drops
// such bytes (no unknown token), so the round trip is byte-exact for the rest.
std::string representable(const Tokenizer& t, std::string_view s) {
  std::string r;
  for (char c : s) {
    uint8_t b = static_cast<uint8_t>(c);
    int32_t id = t.kind() == Tokenizer::Kind::kSpm ? t.find_token(fmt::format("<0x{:02X}>", b))
                                                   : t.find_token(unicode::byte_to_utf8(b));
    if (id >= 0 && t.token_type(id) != TokenType::kUserDefined) r += c;
  }
  return r;
}

TEST_P(RoundTrip, RandomUtf8Text) {
  TANDEM_LOAD_VOCAB_OR_SKIP(tok, GetParam());
  std::mt19937 rng(1234);
  std::uniform_int_distribution<size_t> len(0, 120);
  for (int i = 0; i < 300; ++i) {
    std::string s = testing::random_text(rng, len(rng));
    for (bool add_special : {false, true}) {
      auto ids = tok->encode(s, add_special, false);
      for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok->n_vocab());
      ASSERT_EQ(tok->decode(ids), s) << "add_special=" << add_special;
    }
  }
}

TEST_P(RoundTrip, FixedStrings) {
  TANDEM_LOAD_VOCAB_OR_SKIP(tok, GetParam());
  for (std::string s : {"", " ", "  ", "\n", " \n ", "Hello", " Hello", "  Hello  ", "\t\tx",
                        "a\r\nb", "🦙🦙 llama", "日本語のテキスト", "e\xCC\x81\xCC\x81",
                        "   \n\n\n   ", "x", "'s 's'S 'll", "3.14159265358979"}) {
    auto ids = tok->encode(s, false, false);
    EXPECT_EQ(tok->decode(ids), s);
  }
}

TEST_P(RoundTrip, RandomBytesAreByteExact) {
  TANDEM_LOAD_VOCAB_OR_SKIP(tok, GetParam());
  std::mt19937 rng(99);
  std::uniform_int_distribution<size_t> len(0, 200);
  for (int i = 0; i < 300; ++i) {
    std::string s = testing::random_bytes(rng, len(rng));
    for (bool parse_special : {false, true}) {
      auto ids = tok->encode(s, true, parse_special);
      for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok->n_vocab());
      if (!parse_special) {
        ASSERT_EQ(tok->decode(ids), representable(*tok, s)) << "string " << i;
      }
    }
  }
  // Lone continuation bytes, truncated sequences, overlongs, surrogates, 0xFF.
  for (std::string s : std::vector<std::string>{"\x80", "a\xC3", "\xE2\x82", "\xF0\x9F\xA6",
                                                "\xC0\xAF", "\xED\xA0\x80", "\xFF\xFE",
                                                "x\xF4\x90\x80\x80y", std::string("\0a\0", 3)}) {
    auto ids = tok->encode(s, false, false);
    EXPECT_EQ(tok->decode(ids), representable(*tok, s));
  }
  // gpt-2 and the SentencePiece vocabularies represent every byte.
  if (GetParam() == "gpt-2" || GetParam() == "llama-spm" || GetParam() == "phi-3") {
    std::string all;
    for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
    EXPECT_EQ(representable(*tok, all), all);
    EXPECT_EQ(tok->decode(tok->encode(all, false, false)), all);
  }
}

// Const methods may run concurrently: four threads get the same ids as one.
TEST_P(RoundTrip, ConcurrentEncodeMatchesSerial) {
  TANDEM_LOAD_VOCAB_OR_SKIP(tok, GetParam());
  std::mt19937 rng(3);
  std::vector<std::string> texts;
  for (int i = 0; i < 64; ++i) texts.push_back(testing::random_text(rng, 200));
  std::vector<std::vector<int32_t>> serial;
  for (const auto& s : texts) serial.push_back(tok->encode(s, true, true));
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (size_t i = 0; i < texts.size(); ++i)
        if (tok->encode(texts[i], true, true) != serial[i]) ++mismatches;
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(Vocabs, RoundTrip, ::testing::ValuesIn(testing::vocab_names()),
                         testing::vocab_test_name);

}  // namespace
}  // namespace tandem
