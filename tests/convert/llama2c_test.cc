// stories260K (llama2.c checkpoint + tok512.bin) converted to GGUF: greedy
// decoding from BOS reproduces the reference text byte for byte, and a Q8_0
// quantisation keeps (almost) the same greedy tokens.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tandem/base/error.h"
#include "tandem/convert/llama2c.h"
#include "tandem/convert/quantize_model.h"
#include "tandem/gguf/reader.h"
#include "tandem/model/model.h"
#include "test_util.h"

namespace tandem {
namespace {
using namespace tandem::testing;

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class Stories260K : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = shared_dir() + "/models/stories260K";
    if (shared_dir().empty() || !std::filesystem::exists(dir_ + "/stories260K.bin"))
      GTEST_SKIP() << "../shared/models/stories260K not found (set TANDEM_SHARED)";
  }
  std::string convert_once() {
    static std::string path;
    if (path.empty()) {
      path = temp_dir() + "/stories260K.gguf";
      convert::ConvertOptions o;
      o.pool = &pool_;
      convert::convert_llama2c(dir_ + "/stories260K.bin", dir_ + "/tok512.bin", path, o);
    }
    return path;
  }
  std::string dir_;
  ThreadPool pool_{1};  // one thread: the test machines are shared
};

TEST_F(Stories260K, VocabularyIsSentencePieceStyle) {
  auto f = gguf::File::open(convert_once());
  EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "llama");
  auto tokens = f->get("tokenizer.ggml.tokens").as_string_array();
  auto types = f->get("tokenizer.ggml.token_type").as_i32_array();
  ASSERT_EQ(tokens.size(), 512u);
  EXPECT_EQ(tokens[0], "<unk>");
  EXPECT_EQ(tokens[1], "<s>");
  EXPECT_EQ(tokens[2], "</s>");
  EXPECT_EQ(tokens[3], "<0x00>");
  EXPECT_EQ(tokens[259], "\xE2\x96\x81t");  // " t" in tok512.bin
  EXPECT_EQ(types[0], 2);
  EXPECT_EQ(types[1], 3);
  EXPECT_EQ(types[2], 3);
  EXPECT_EQ(types[3], 6);
  EXPECT_EQ(types[258], 6);
  EXPECT_EQ(types[259], 1);
  for (const std::string& t : tokens) EXPECT_EQ(t.find(' '), std::string::npos) << t;
  EXPECT_TRUE(f->get_bool("tokenizer.ggml.add_space_prefix"));
  EXPECT_EQ(f->get_int("tokenizer.ggml.bos_token_id"), 1);
  EXPECT_EQ(f->find_tensor("output.weight"), nullptr);  // shared classifier
}

TEST_F(Stories260K, GreedyFromBosMatchesGoldenText) {
  const std::string path = convert_once();
  auto f = gguf::File::open(path);
  auto vocab = f->get("tokenizer.ggml.tokens").as_string_array();
  std::vector<int32_t> ids = greedy(path, {1}, 200, pool_);
  std::vector<int32_t> again = greedy(path, {1}, 200, pool_);
  EXPECT_EQ(ids, again) << "greedy decoding is not deterministic";
  // llama2.c stops when it samples BOS; the golden run did not.
  // llama2.c's loop runs 200 forwards (pos 0..199, BOS at pos 0) and prints
  // the piece of the token each one produces: 200 generated tokens, although
  // ../shared/README.md counts 199. With 199 the text stops one word short
  // (" she"); with 200 it matches byte for byte.
  std::vector<int32_t> seq = {1};
  seq.insert(seq.end(), ids.begin(), ids.end());
  const std::string text = detokenize(vocab, seq);
  const std::string golden = read_all(dir_ + "/golden_greedy_t0_n200.txt");
  std::printf("generated %zu tokens, %zu bytes; golden %zu bytes\n", ids.size(), text.size(),
              golden.size());
  EXPECT_EQ(text, golden);
}

TEST_F(Stories260K, Q8_0GreedyAgreesWithF32) {
  const std::string f32 = convert_once();
  const std::string q8 = temp_dir() + "/stories260K-q8_0.gguf";
  auto report = convert::quantize_model(f32, q8, DType::Q8_0, pool_);
  // ffn_down rows have 172 elements: not a multiple of 32, so F16 (with a note).
  EXPECT_EQ(report.tensor_types.at("blk.0.ffn_down.weight"), DType::F16);
  EXPECT_EQ(report.tensor_types.at("blk.0.attn_q.weight"), DType::Q8_0);
  EXPECT_EQ(report.tensor_types.at("token_embd.weight"), DType::Q8_0);
  EXPECT_EQ(report.tensor_types.at("output_norm.weight"), DType::F32);
  EXPECT_FALSE(report.notes.empty());
  // Two measures over the F32 model's 200 greedy tokens: (1) teacher-forced
  // agreement: the Q8_0 model fed the F32 sequence predicts the same next token
  // at each position (the asserted figure, >= 95 %); (2) free-running: how long
  // the Q8_0 model's own greedy output stays identical (one near-tie flip
  // changes everything after it, so this is reported, not asserted).
  const int n = 200;
  std::vector<int32_t> a = greedy(f32, {1}, n, pool_);
  std::vector<int32_t> b = greedy(q8, {1}, n, pool_);
  int prefix = 0;
  while (prefix < n && a[prefix] == b[prefix]) ++prefix;
  auto model = Model::load(q8);
  KvCache cache = model->make_cache(n + 1, 1);
  std::vector<SequenceInput> batch(1);
  batch[0].tokens = {1};
  batch[0].tokens.insert(batch[0].tokens.end(), a.begin(), a.end() - 1);
  ForwardOptions opt;
  opt.logits = LogitsMode::kAll;
  ForwardOutput out;
  model->forward(batch, cache, opt, out, pool_);
  int same = 0;
  for (int i = 0; i < n; ++i) {
    const float* row = out.logits_of(0, i);
    same += std::max_element(row, row + out.n_vocab) - row == a[i];
  }
  const double agree = 100.0 * same / n;
  std::printf(
      "stories260K Q8_0 vs F32: teacher-forced greedy agreement %d/%d (%.1f%%); "
      "free-running identical prefix %d/%d tokens\n",
      same, n, agree, prefix, n);
  EXPECT_GE(agree, 95.0);
}

TEST(Llama2cErrors, ClearMessages) {
  const std::string d = temp_dir();
  const std::string tok = d + "/tok.bin";
  {
    std::ofstream t(tok, std::ios::binary);
    int32_t max_len = 4;
    t.write(reinterpret_cast<char*>(&max_len), 4);
  }
  auto expect_error = [&](const std::string& ckpt, const std::string& what) {
    try {
      convert::convert_llama2c(ckpt, tok, d + "/out.gguf");
      ADD_FAILURE() << "no error for " << what;
    } catch (const tandem::Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  expect_error(d + "/missing.bin", "missing.bin: cannot open");
  const std::string shortf = d + "/short.bin";
  write_text(shortf, std::string(10, '\0'));
  expect_error(shortf, "truncated");
  const std::string bad = d + "/bad.bin";
  {
    int32_t h[7] = {64, 172, 5, 0, 4, 512, 512};  // n_heads 0
    write_text(bad, std::string(reinterpret_cast<char*>(h), 28));
  }
  expect_error(bad, "n_heads = 0");
  const std::string trunc = d + "/trunc.bin";
  {
    int32_t h[7] = {64, 172, 5, 8, 4, 512, 512};
    write_text(trunc, std::string(reinterpret_cast<char*>(h), 28) + std::string(4000, '\0'));
  }
  expect_error(trunc, "the file is truncated");
  if (!shared_dir().empty() &&
      std::filesystem::exists(shared_dir() + "/models/stories260K/stories260K.bin")) {
    try {  // a truncated tokenizer with a good checkpoint
      convert::convert_llama2c(shared_dir() + "/models/stories260K/stories260K.bin", tok,
                               d + "/out.gguf");
      ADD_FAILURE() << "no error for a truncated tokenizer";
    } catch (const tandem::Error& e) {
      EXPECT_NE(std::string(e.what()).find("tok.bin: truncated llama2.c tokenizer"),
                std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace tandem
