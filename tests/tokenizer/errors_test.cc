// from_gguf() rejects bad tokenizer metadata with a message that names the
// file, the key and the offending value.
#include "tandem/tokenizer/unicode.h"
#include "test_util.h"

namespace tandem {
namespace {

using gguf::Value;

// A valid byte-level vocabulary: the 256 byte tokens, "ab", one merge.
gguf::Writer bpe_writer() {
  gguf::Writer w;
  w.set("general.architecture", Value::str("gpt2"));
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.emplace_back(unicode::byte_to_utf8(b));
  tokens.push_back("ab");
  w.set("tokenizer.ggml.model", Value::str("gpt2"));
  w.set("tokenizer.ggml.tokens", Value::string_array(tokens));
  w.set("tokenizer.ggml.merges", Value::string_array({"a b"}));
  return w;
}

void expect_error(const gguf::Writer& w, std::initializer_list<std::string_view> parts) {
  testing::TempGguf g(w);
  try {
    Tokenizer::from_gguf(g.file());
    ADD_FAILURE() << "expected a tandem::Error containing '" << *parts.begin() << "'";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(g.file().path()), std::string::npos) << msg;
    for (std::string_view p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

TEST(TokenizerErrors, ValidBaseLoads) {
  testing::TempGguf g(bpe_writer());
  auto t = Tokenizer::from_gguf(g.file());
  EXPECT_EQ(t->n_vocab(), 257);
  EXPECT_EQ(t->model_name(), "gpt2");
  EXPECT_EQ(t->pre_name(), "");
  EXPECT_EQ(t->encode("ab", false, false), std::vector<int32_t>{256});
}

TEST(TokenizerErrors, UnknownModel) {
  auto w = bpe_writer();
  w.set("tokenizer.ggml.model", Value::str("wordpiece"));
  expect_error(w, {"tokenizer.ggml.model 'wordpiece' is not supported", "llama", "gpt2"});
}

TEST(TokenizerErrors, UnknownPreTokenizer) {
  auto w = bpe_writer();
  w.set("tokenizer.ggml.pre", Value::str("foo"));
  expect_error(w, {"tokenizer.ggml.pre 'foo' is not supported", "llama-bpe", "qwen2",
                   "deepseek-coder", "falcon", "starcoder"});
}

TEST(TokenizerErrors, MissingKeys) {
  auto w = bpe_writer();
  w.remove("tokenizer.ggml.model");
  expect_error(w, {"tokenizer.ggml.model", "missing"});
  w = bpe_writer();
  w.remove("tokenizer.ggml.tokens");
  expect_error(w, {"tokenizer.ggml.tokens", "missing"});
  w = bpe_writer();
  w.remove("tokenizer.ggml.merges");
  expect_error(w, {"tokenizer.ggml.merges", "missing"});
  w = bpe_writer();
  w.set("tokenizer.ggml.model", Value::str("llama"));
  expect_error(w, {"tokenizer.ggml.scores", "missing"});
}

TEST(TokenizerErrors, BadValues) {
  auto w = bpe_writer();
  w.set("tokenizer.ggml.token_type", Value::i32_array({1, 1, 1}));
  expect_error(w, {"tokenizer.ggml.token_type has 3 entries, expected 257"});
  w = bpe_writer();
  w.set("tokenizer.ggml.bos_token_id", Value::u32(5000));
  expect_error(w, {"tokenizer.ggml.bos_token_id is 5000"});
  w = bpe_writer();
  w.set("tokenizer.ggml.merges", Value::string_array({"ab"}));
  expect_error(w, {"tokenizer.ggml.merges[0] 'ab'"});
  w = bpe_writer();
  w.set("tokenizer.ggml.tokens", Value::u32(3));
  expect_error(w, {"tokenizer.ggml.tokens", "UINT32"});
  w = bpe_writer();
  w.set("tokenizer.ggml.tokens", Value::string_array({}));
  expect_error(w, {"tokenizer.ggml.tokens is empty"});
}

TEST(TokenizerErrors, SupportedPreTokenizersLoad) {
  for (const char* pre :
       {"default", "gpt-2", "llama-bpe", "qwen2", "starcoder", "deepseek-coder", "falcon"}) {
    auto w = bpe_writer();
    w.set("tokenizer.ggml.pre", Value::str(pre));
    testing::TempGguf g(w);
    auto t = Tokenizer::from_gguf(g.file());
    EXPECT_EQ(t->pre_name(), pre);
    std::string s = "Hello, world! 12345 'll \n\n  x 日本 ab";
    EXPECT_EQ(t->decode(t->encode(s, false, false)), s) << pre;
  }
}

}  // namespace
}  // namespace tandem
