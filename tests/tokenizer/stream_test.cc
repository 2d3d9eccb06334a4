// TokenStreamDecoder: one id at a time gives back decode(ids), never an
// incomplete or invalid UTF-8 chunk, and replaces bytes that cannot become
// valid with U+FFFD.
#include "tandem/tokenizer/stream_decoder.h"
#include "tandem/tokenizer/unicode.h"
#include "test_util.h"

namespace tandem {
namespace {

class Stream : public ::testing::TestWithParam<std::string> {};

std::string stream_all(const Tokenizer& tok, const std::vector<int32_t>& ids, size_t* held) {
  TokenStreamDecoder d(tok);
  std::string all;
  for (int32_t id : ids) {
    std::string chunk = d.push(id);
    EXPECT_TRUE(unicode::is_valid_utf8(chunk)) << "chunk after id " << id;
    if (d.pending()) ++*held;
    all += chunk;
  }
  std::string tail = d.finish();
  EXPECT_TRUE(unicode::is_valid_utf8(tail));
  return all + tail;
}

TEST_P(Stream, ConcatenationEqualsDecode) {
  TANDEM_LOAD_VOCAB_OR_SKIP(tok, GetParam());
  std::mt19937 rng(7);
  size_t held = 0;
  for (int i = 0; i < 200; ++i) {
    std::string s = testing::random_text(rng, 60);
    auto ids = tok->encode(s, true, false);
    ASSERT_EQ(stream_all(*tok, ids, &held), tok->decode(ids));
    ASSERT_EQ(tok->decode(ids), s);
  }
  // Text whose characters have no token of their own, so they are split across
  // byte tokens (SentencePiece byte fallback) or partial byte-level tokens.
  std::string rare = "𝔸𝔹ℂ 🦙🧑‍💻 ꙮ 𓀀𓀁 ";
  auto ids = tok->encode(rare, false, false);
  EXPECT_EQ(stream_all(*tok, ids, &held), rare);
  EXPECT_GT(held, 0u) << "no multi-byte character was ever split across tokens";
}

INSTANTIATE_TEST_SUITE_P(Vocabs, Stream, ::testing::ValuesIn(testing::vocab_names()),
                         testing::vocab_test_name);

TEST(StreamBytes, HoldsBackAndReplacesInvalid) {
  TANDEM_LOAD_VOCAB_OR_SKIP(tok, "llama-spm");
  auto byte = [&](int b) { return tok->find_token(fmt::format("<0x{:02X}>", b)); };
  TokenStreamDecoder d(*tok);
  // 🦙 = F0 9F A6 99, one byte token at a time.
  EXPECT_EQ(d.push(byte(0xF0)), "");
  EXPECT_EQ(d.push(byte(0x9F)), "");
  EXPECT_EQ(d.push(byte(0xA6)), "");
  EXPECT_EQ(d.push(byte(0x99)), "🦙");
  // A lone continuation byte can never become valid: replaced at once.
  EXPECT_EQ(d.push(byte(0x80)), "\xEF\xBF\xBD");
  // A lead byte followed by ASCII: one U+FFFD, then the ASCII.
  EXPECT_EQ(d.push(byte(0xE2)), "");
  EXPECT_EQ(d.push(byte(0x41)),
            "\xEF\xBF\xBD"
            "A");
  // A truncated sequence at the end comes out of finish() as one U+FFFD.
  EXPECT_EQ(d.push(byte(0xF0)), "");
  EXPECT_EQ(d.push(byte(0x9F)), "");
  EXPECT_EQ(d.finish(), "\xEF\xBF\xBD");
  EXPECT_EQ(d.finish(), "");
}

TEST(StreamBytes, LeadingSpaceRuleMatchesDecode) {
  TANDEM_LOAD_VOCAB_OR_SKIP(tok, "llama-spm");
  auto ids = tok->encode("Hello world", true, false);
  ASSERT_EQ(ids.front(), tok->bos());
  TokenStreamDecoder d(*tok);
  std::string all;
  for (int32_t id : ids) all += d.push(id);
  all += d.finish();
  EXPECT_EQ(all, "Hello world");
  // After finish() the decoder starts over, leading-space rule included.
  for (int32_t id : ids) all += d.push(id);
  EXPECT_EQ(all, "Hello worldHello world");
}

}  // namespace
}  // namespace tandem
