// Reads the real llama.cpp vocabulary files from the shared test data.
#include "test_util.h"

namespace tandem::gguf {
namespace {

std::vector<std::string> vocab_files() {
  std::vector<std::string> r;
  auto dir = testing::shared_dir() / "tokenizer-vectors";
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.starts_with("ggml-vocab-") && name.ends_with(".gguf")) r.push_back(e.path().string());
  }
  std::sort(r.begin(), r.end());
  return r;
}

#define SKIP_WITHOUT_VOCABS(files)                                                             \
  if (files.empty())                                                                           \
  GTEST_SKIP() << "no ggml-vocab-*.gguf under " << testing::shared_dir() / "tokenizer-vectors" \
               << " (set TANDEM_SHARED)"

TEST(GgufVocab, AllFilesAreConsistent) {
  auto files = vocab_files();
  SKIP_WITHOUT_VOCABS(files);
  for (const auto& path : files) {
    SCOPED_TRACE(path);
    auto f = File::open(path);
    EXPECT_EQ(f->version(), 3u);
    EXPECT_TRUE(f->tensors().empty());
    std::string arch = f->get_string("general.architecture");
    EXPECT_FALSE(arch.empty());
    // Every file has at least one '<arch>.' hyper-parameter, e.g. llama.block_count.
    EXPECT_GT(f->get_int(arch + ".block_count"), 0);

    const Value& tokens = f->get("tokenizer.ggml.tokens");
    EXPECT_EQ(tokens.array_type(), ValueType::STRING);
    size_t n = tokens.array_size();
    EXPECT_GT(n, 1000u);
    if (const Value* tt = f->find("tokenizer.ggml.token_type")) {
      EXPECT_EQ(tt->as_i32_array().size(), n);
    }
    if (const Value* s = f->find("tokenizer.ggml.scores")) {
      EXPECT_EQ(s->as_f32_array().size(), n);
    }
    if (const Value* m = f->find("tokenizer.ggml.merges")) {
      auto merges = m->as_string_array();
      ASSERT_FALSE(merges.empty());
      EXPECT_NE(merges[0].find(' '), std::string::npos) << merges[0];
    }
    for (const char* k : {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"}) {
      int64_t id = f->get_int(k, 0);
      EXPECT_GE(id, 0);
      EXPECT_LT(id, static_cast<int64_t>(n)) << k;
    }
    std::string model = f->get_string("tokenizer.ggml.model");
    EXPECT_TRUE(model == "llama" || model == "gpt2") << model;
  }
}

TEST(GgufVocab, LlamaSpmContents) {
  auto path = testing::shared_dir() / "tokenizer-vectors" / "ggml-vocab-llama-spm.gguf";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is absent (set TANDEM_SHARED)";
  auto f = File::open(path.string());
  EXPECT_EQ(f->get_string("general.architecture"), "llama");
  EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "llama");
  auto tokens = f->get("tokenizer.ggml.tokens").as_string_array();
  ASSERT_EQ(tokens.size(), 32000u);
  EXPECT_EQ(tokens[0], "<unk>");
  EXPECT_EQ(tokens[1], "<s>");
  EXPECT_EQ(tokens[2], "</s>");
  EXPECT_EQ(tokens[3], "<0x00>");
  EXPECT_EQ(f->get_int("tokenizer.ggml.bos_token_id"), 1);
  EXPECT_EQ(f->get_int("tokenizer.ggml.eos_token_id"), 2);
  EXPECT_EQ(f->get_int("llama.vocab_size"), 32000);
  auto types = f->get("tokenizer.ggml.token_type").as_i32_array();
  EXPECT_EQ(types[0], 2);     // UNKNOWN
  EXPECT_EQ(types[1], 3);     // CONTROL
  EXPECT_EQ(types[3], 6);     // BYTE
  EXPECT_EQ(types[1000], 1);  // NORMAL
}

// Copying all metadata of a real file through the writer reproduces its bytes
// exactly (these files hold only metadata), plus zero padding to the alignment.
TEST(GgufVocab, WriterReproducesTheFileBytes) {
  auto files = vocab_files();
  SKIP_WITHOUT_VOCABS(files);
  testing::TempDir dir;
  for (const auto& path : files) {
    SCOPED_TRACE(path);
    auto f = File::open(path);
    Writer w;
    w.copy_metadata(*f, {});
    std::string out = dir.file("copy.gguf");
    w.write(out);
    auto orig = testing::read_bytes(path);
    auto copy = testing::read_bytes(out);
    ASSERT_GE(copy.size(), orig.size());
    EXPECT_LT(copy.size() - orig.size(), 32u);
    EXPECT_TRUE(std::equal(orig.begin(), orig.end(), copy.begin()));
    EXPECT_TRUE(std::all_of(copy.begin() + static_cast<ptrdiff_t>(orig.size()), copy.end(),
                            [](uint8_t b) { return b == 0; }));
  }
}

}  // namespace
}  // namespace tandem::gguf
