// Special tokens: control tokens are matched only with parse_special, the
// longest one wins, user-defined tokens are always matched, BOS/EOS follow
// add_bos_token/add_eos_token, and the metadata accessors.
#include "tandem/tokenizer/unicode.h"
#include "test_util.h"

namespace tandem {
namespace {

using gguf::Value;

// Byte-level vocabulary: 256 byte tokens, then "ab", control tokens "<|x|>",
// "<|x|>y", "<|im_end|>", "<s>", and a user-defined "@@".
std::unique_ptr<testing::TempGguf> small_bpe(bool add_bos, bool add_eos) {
  gguf::Writer w;
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  for (int b = 0; b < 256; ++b) {
    tokens.emplace_back(unicode::byte_to_utf8(b));
    types.push_back(1);
  }
  for (auto [t, ty] : std::vector<std::pair<std::string, int>>{
           {"ab", 1}, {"<|x|>", 3}, {"<|x|>y", 3}, {"<|im_end|>", 3}, {"<s>", 3}, {"@@", 4}}) {
    tokens.push_back(t);
    types.push_back(ty);
  }
  w.set("tokenizer.ggml.model", Value::str("gpt2"));
  w.set("tokenizer.ggml.pre", Value::str("gpt-2"));
  w.set("tokenizer.ggml.tokens", Value::string_array(tokens));
  w.set("tokenizer.ggml.token_type", Value::i32_array(types));
  w.set("tokenizer.ggml.merges", Value::string_array({"a b"}));
  w.set("tokenizer.ggml.bos_token_id", Value::u32(260));
  w.set("tokenizer.ggml.eos_token_id", Value::u32(259));
  w.set("tokenizer.ggml.add_bos_token", Value::boolean(add_bos));
  w.set("tokenizer.ggml.add_eos_token", Value::boolean(add_eos));
  w.set("tokenizer.chat_template", Value::str("{{ messages }}"));
  return std::make_unique<testing::TempGguf>(w);
}

constexpr int32_t kAb = 256, kX = 257, kXy = 258, kImEnd = 259, kBos = 260, kAt = 261;

TEST(SpecialTokens, ParseSpecialOnAndOff) {
  auto g = small_bpe(false, false);
  auto t = Tokenizer::from_gguf(g->file());
  auto b = [](char c) { return static_cast<int32_t>(static_cast<uint8_t>(c)); };
  // Longest match: "<|x|>y" beats "<|x|>".
  EXPECT_EQ(t->encode("1<|x|>y2", false, true), (std::vector<int32_t>{b('1'), kXy, b('2')}));
  EXPECT_EQ(t->encode("<|x|><|x|>", false, true), (std::vector<int32_t>{kX, kX}));
  EXPECT_EQ(t->encode("ab<|im_end|>ab", false, true), (std::vector<int32_t>{kAb, kImEnd, kAb}));
  // Off: the text is tokenized as text and decodes back to itself.
  auto off = t->encode("ab<|im_end|>ab", false, false);
  EXPECT_EQ(std::count(off.begin(), off.end(), kImEnd), 0);
  EXPECT_EQ(t->decode(off), "ab<|im_end|>ab");
  // User-defined tokens are matched either way and decode to their text.
  EXPECT_EQ(t->encode("@@", false, false), std::vector<int32_t>{kAt});
  EXPECT_EQ(t->encode("a@@b", false, true), (std::vector<int32_t>{b('a'), kAt, b('b')}));
  // Control tokens render as nothing unless asked for.
  EXPECT_EQ(t->decode(std::vector<int32_t>{kAb, kImEnd, kAb}), "abab");
  EXPECT_EQ(t->piece(kImEnd), "");
  EXPECT_EQ(t->piece(kImEnd, true), "<|im_end|>");
  EXPECT_EQ(t->piece(-1), "");
  EXPECT_EQ(t->piece(100000), "");
}

TEST(SpecialTokens, BosEosAndAccessors) {
  auto g = small_bpe(true, true);
  auto t = Tokenizer::from_gguf(g->file());
  EXPECT_TRUE(t->add_bos());
  EXPECT_TRUE(t->add_eos());
  EXPECT_EQ(t->bos(), kBos);
  EXPECT_EQ(t->eos(), kImEnd);
  EXPECT_EQ(t->encode("ab", true, false), (std::vector<int32_t>{kBos, kAb, kImEnd}));
  EXPECT_EQ(t->encode("ab", false, false), (std::vector<int32_t>{kAb}));
  EXPECT_EQ(t->encode("", true, false), (std::vector<int32_t>{kBos, kImEnd}));
  EXPECT_TRUE(t->is_end_of_generation(kImEnd));
  EXPECT_FALSE(t->is_end_of_generation(kAb));
  EXPECT_FALSE(t->is_end_of_generation(-5));
  EXPECT_TRUE(t->is_control(kX));
  EXPECT_FALSE(t->is_control(kAt));
  EXPECT_EQ(t->chat_template(), "{{ messages }}");

  auto g2 = small_bpe(false, false);
  auto t2 = Tokenizer::from_gguf(g2->file());
  EXPECT_EQ(t2->encode("ab", true, false), (std::vector<int32_t>{kAb}));
}

TEST(SpecialTokens, ReferenceVocabularies) {
  TANDEM_LOAD_VOCAB_OR_SKIP(phi3, "phi-3");
  int32_t end = phi3->find_token("<|end|>");
  int32_t assistant = phi3->find_token("<|assistant|>");
  ASSERT_GE(end, 0);
  ASSERT_GE(assistant, 0);
  EXPECT_TRUE(phi3->is_end_of_generation(end));
  EXPECT_TRUE(phi3->is_end_of_generation(phi3->eos()));
  EXPECT_FALSE(phi3->is_end_of_generation(assistant));
  EXPECT_FALSE(phi3->chat_template().empty());
  EXPECT_EQ(phi3->model_name(), "llama");

  auto on = phi3->encode("<|assistant|>Hi<|end|>", true, true);
  ASSERT_EQ(on.size(), 4u);  // BOS, <|assistant|>, "▁Hi" (prefix after a special), <|end|>
  EXPECT_EQ(on[0], phi3->bos());
  EXPECT_EQ(on[1], assistant);
  EXPECT_EQ(phi3->token_text(on[2]),
            "\xE2\x96\x81"
            "Hi");
  EXPECT_EQ(on[3], end);
  auto off = phi3->encode("<|assistant|>Hi<|end|>", true, false);
  EXPECT_EQ(std::count(off.begin(), off.end(), end), 0);
  EXPECT_EQ(phi3->decode(off), "<|assistant|>Hi<|end|>");

  TANDEM_LOAD_VOCAB_OR_SKIP(gpt2, "gpt-2");
  EXPECT_EQ(gpt2->encode("a<|endoftext|>", false, true).back(), gpt2->eos());
  EXPECT_GT(gpt2->encode("a<|endoftext|>", false, false).size(), 2u);
  EXPECT_EQ(gpt2->decode(gpt2->encode("a<|endoftext|>", false, false)), "a<|endoftext|>");
  EXPECT_EQ(gpt2->pre_name(), "gpt-2");
  EXPECT_EQ(gpt2->bos(), 50256);

  TANDEM_LOAD_VOCAB_OR_SKIP(spm, "llama-spm");
  EXPECT_EQ(spm->encode("<s>x</s>", false, true).front(), spm->bos());
  EXPECT_EQ(spm->encode("<s>x</s>", false, true).back(), spm->eos());
  EXPECT_EQ(spm->encode("x", true, false).front(), spm->bos());
  EXPECT_EQ(spm->piece(spm->find_token("<0x41>")), "A");
  EXPECT_EQ(spm->piece(spm->find_token("\xE2\x96\x81the")), " the");
}

// A hand-made SentencePiece vocabulary: highest score merges first, byte
// fallback for characters without a token, add_space_prefix off.
TEST(SpecialTokens, SmallSentencePiece) {
  gguf::Writer w;
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<float> scores = {0, 0, 0};
  std::vector<int32_t> types = {2, 3, 3};
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(fmt::format("<0x{:02X}>", b));
    scores.push_back(0);
    types.push_back(6);
  }
  for (auto [t, s] : std::vector<std::pair<std::string, float>>{{"\xE2\x96\x81", -1},
                                                                {"a", -2},
                                                                {"b", -3},
                                                                {"c", -4},
                                                                {"ab", -10},
                                                                {"bc", -5},
                                                                {"\xE2\x96\x81"
                                                                 "a",
                                                                 -6},
                                                                {"abc", -7}}) {
    tokens.push_back(t);
    scores.push_back(s);
    types.push_back(1);
  }
  w.set("tokenizer.ggml.model", Value::str("llama"));
  w.set("tokenizer.ggml.tokens", Value::string_array(tokens));
  w.set("tokenizer.ggml.scores", Value::f32_array(scores));
  w.set("tokenizer.ggml.token_type", Value::i32_array(types));
  w.set("tokenizer.ggml.bos_token_id", Value::u32(1));
  w.set("tokenizer.ggml.eos_token_id", Value::u32(2));
  w.set("tokenizer.ggml.unknown_token_id", Value::u32(0));
  testing::TempGguf g(w);
  auto t = Tokenizer::from_gguf(g.file());
  auto id = [&](std::string_view s) { return t->find_token(s); };
  EXPECT_TRUE(t->add_bos());
  EXPECT_TRUE(t->add_space_prefix());
  // "▁abc": symbols ▁ a b c; "bc" (-5) beats "▁a" (-6) and "ab" (-10), then
  // "▁a" merges; "▁abc" is not a token, so the result is ▁a + bc.
  const std::string sp_a = std::string(unicode::kSpmSpace) + "a";
  EXPECT_EQ(t->encode("abc", false, false), (std::vector<int32_t>{id(sp_a), id("bc")}));
  // "z" has no token: byte fallback.
  EXPECT_EQ(t->encode("z", true, false),
            (std::vector<int32_t>{1, id("\xE2\x96\x81"), id("<0x7A>")}));
  EXPECT_EQ(t->decode(t->encode("z abc", true, false)), "z abc");

  w.set("tokenizer.ggml.add_space_prefix", Value::boolean(false));
  testing::TempGguf g2(w);
  auto t2 = Tokenizer::from_gguf(g2.file());
  // No prefix: a b c -> a bc (-5) -> abc (-7).
  EXPECT_EQ(t2->encode("abc", false, false), std::vector<int32_t>{id("abc")});
  EXPECT_EQ(t2->decode(t2->encode(" abc", false, false)), " abc");
}

}  // namespace
}  // namespace tandem
