// Hugging Face folders converted to GGUF: the real tinystories-656k model
// reproduces its golden greedy continuation; its vocabulary matches
// tokenizer.json and the derived scores make SentencePiece-style encoding agree
// with HF merge-rank BPE; synthetic llama / qwen2 folders check the Q/K
// permutation, biases, tied embeddings and byte-level tokenizers.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "tandem/base/error.h"
#include "tandem/convert/hf.h"
#include "tandem/gguf/reader.h"
#include "tandem/model/model.h"
#include "tandem/tensor/quantize.h"
#include "test_util.h"

namespace tandem {
namespace {
using namespace tandem::testing;
using nlohmann::json;
const std::string kSp = "\xE2\x96\x81";

json load_json(const std::string& path) {
  std::ifstream f(path);
  return json::parse(f);
}

std::vector<std::string> utf8_chars(const std::string& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

std::string normalize(const std::string& text) {  // Prepend("▁") + Replace(" ", "▁")
  std::string out = kSp;
  for (char c : text) out += c == ' ' ? kSp : std::string(1, c);
  return out;
}

// HF BPE (merge ranks, leftmost lowest rank first), from tokenizer.json.
std::vector<int32_t> hf_bpe(const json& tok, const std::string& text) {
  std::map<std::pair<std::string, std::string>, size_t> rank;
  const json& merges = tok["model"]["merges"];
  for (size_t r = 0; r < merges.size(); ++r) {
    std::string m = merges[r].get<std::string>();
    size_t sp = m.find(' ', 1);
    rank[{m.substr(0, sp), m.substr(sp + 1)}] = r;
  }
  std::vector<std::string> sym = utf8_chars(normalize(text));
  for (;;) {
    size_t best = SIZE_MAX, at = 0;
    for (size_t i = 0; i + 1 < sym.size(); ++i) {
      auto it = rank.find({sym[i], sym[i + 1]});
      if (it != rank.end() && it->second < best) best = it->second, at = i;
    }
    if (best == SIZE_MAX) break;
    sym[at] += sym[at + 1];
    sym.erase(sym.begin() + at + 1);
  }
  std::vector<int32_t> ids;
  for (const auto& s : sym) {
    const json& v = tok["model"]["vocab"];
    ids.push_back(v.contains(s) ? v[s].get<int32_t>() : 0);
  }
  return ids;
}

// SentencePiece-style score-driven BPE over the GGUF vocabulary (highest score first).
std::vector<int32_t> spm_encode(const gguf::File& f, const std::string& text) {
  auto tokens = f.get("tokenizer.ggml.tokens").as_string_array();
  auto scores = f.get("tokenizer.ggml.scores").as_f32_array();
  std::map<std::string, int32_t> id;
  for (size_t i = 0; i < tokens.size(); ++i) id.emplace(tokens[i], static_cast<int32_t>(i));
  std::vector<std::string> sym = utf8_chars(normalize(text));
  for (;;) {
    float best = -INFINITY;
    size_t at = SIZE_MAX;
    for (size_t i = 0; i + 1 < sym.size(); ++i) {
      auto it = id.find(sym[i] + sym[i + 1]);
      if (it != id.end() && scores[it->second] > best) best = scores[it->second], at = i;
    }
    if (at == SIZE_MAX) break;
    sym[at] += sym[at + 1];
    sym.erase(sym.begin() + at + 1);
  }
  std::vector<int32_t> ids;
  for (const auto& s : sym) ids.push_back(id.count(s) ? id[s] : 0);
  return ids;
}

class TinyStories656k : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = shared_dir() + "/models/tinystories-656k";
    if (shared_dir().empty() || !std::filesystem::exists(dir_ + "/model.safetensors"))
      GTEST_SKIP() << "../shared/models/tinystories-656k not found (set TANDEM_SHARED)";
  }
  std::string convert_once() {
    static std::string path;
    if (path.empty()) {
      path = temp_dir() + "/tinystories-656k.gguf";
      convert::ConvertOptions o;
      o.pool = &pool_;
      convert::convert_hf(dir_, path, o);
    }
    return path;
  }
  std::string dir_;
  ThreadPool pool_{1};
};

TEST_F(TinyStories656k, GreedyContinuationMatchesGoldenIds) {
  const json golden = load_json(dir_ + "/golden_greedy_once_upon_a_time.json");
  const auto prompt = golden["prompt_ids"].get<std::vector<int32_t>>();
  const auto expect = golden["generated_ids"].get<std::vector<int32_t>>();
  ASSERT_EQ(expect.size(), 60u);
  EXPECT_EQ(greedy(convert_once(), prompt, 60, pool_), expect);
}

TEST_F(TinyStories656k, VocabularyMatchesTokenizerJson) {
  auto f = gguf::File::open(convert_once());
  const json tok = load_json(dir_ + "/tokenizer.json");
  auto tokens = f->get("tokenizer.ggml.tokens").as_string_array();
  auto types = f->get("tokenizer.ggml.token_type").as_i32_array();
  ASSERT_EQ(tokens.size(), tok["model"]["vocab"].size());
  for (auto it = tok["model"]["vocab"].begin(); it != tok["model"]["vocab"].end(); ++it)
    EXPECT_EQ(tokens.at(it.value().get<size_t>()), it.key());
  EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(types[0], 2);  // <unk>: UNKNOWN
  EXPECT_EQ(types[1], 3);  // <|start_story|>: CONTROL
  EXPECT_EQ(types[2], 3);  // <|end_story|>: CONTROL
  EXPECT_EQ(types[80], 1);
  EXPECT_EQ(f->get_int("tokenizer.ggml.bos_token_id"), 1);
  EXPECT_EQ(f->get_int("tokenizer.ggml.eos_token_id"), 2);
  EXPECT_TRUE(f->get_bool("tokenizer.ggml.add_bos_token"));
  EXPECT_TRUE(f->get_bool("tokenizer.ggml.add_space_prefix"));
  // tokenizer_config.json has no chat_template, so none is written.
  EXPECT_EQ(f->find("tokenizer.chat_template"), nullptr);
  // Scores: the token made by merge r scores -r.
  auto scores = f->get("tokenizer.ggml.scores").as_f32_array();
  const json& merges = tok["model"]["merges"];
  for (size_t r = 0; r < merges.size(); r += 97) {
    std::string m = merges[r].get<std::string>();
    size_t sp = m.find(' ', 1);
    const int id = tok["model"]["vocab"][m.substr(0, sp) + m.substr(sp + 1)].get<int>();
    EXPECT_EQ(scores[id], -static_cast<float>(r)) << m;
  }
}

TEST_F(TinyStories656k, ScoreDrivenEncodingAgreesWithMergeRankBpe) {
  auto f = gguf::File::open(convert_once());
  const json tok = load_json(dir_ + "/tokenizer.json");
  const json golden = load_json(dir_ + "/golden_greedy_once_upon_a_time.json");
  // The golden prompt: BOS + the encoding of "Once upon a time".
  std::vector<int32_t> prompt = {1};
  for (int32_t id : spm_encode(*f, "Once upon a time")) prompt.push_back(id);
  EXPECT_EQ(prompt, golden["prompt_ids"].get<std::vector<int32_t>>());
  // Longer text: every line of the golden continuation and a few odd strings.
  std::vector<std::string> texts = {"Once upon a time", "Hello world", "  two  spaces",
                                    "Lily's mom said, \"Okay!\"", "12345 zebra-quokka?"};
  std::string text = golden["text"].get<std::string>();
  for (size_t p = 0, q; p < text.size(); p = q + 1) {
    q = text.find('\n', p);
    if (q == std::string::npos) q = text.size();
    texts.push_back(text.substr(p, q - p));
  }
  texts.push_back(text);
  for (const std::string& t : texts) EXPECT_EQ(spm_encode(*f, t), hf_bpe(tok, t)) << t;
}

TEST(HfConvert, LlamaQkPermutationPaddingAndChatTemplate) {
  const std::string dir = temp_dir() + "/hf_llama";
  HfSpec spec;
  auto src = write_hf_folder(dir, spec);
  const std::string out = temp_dir() + "/hf_llama.gguf";
  auto report = convert::convert_hf(dir, out);
  auto f = gguf::File::open(out);
  const int64_t hd = spec.dim / spec.n_head;
  // GGUF row 2i of a head = HF row i; row 2i+1 = HF row i + hd/2.
  for (const char* which : {"q", "k"}) {
    const auto& hf = src.at(std::string("model.layers.1.self_attn.") + which + "_proj.weight");
    const gguf::TensorInfo* t = f->find_tensor(std::string("blk.1.attn_") + which + ".weight");
    ASSERT_NE(t, nullptr);
    const float* g = reinterpret_cast<const float*>(t->data);
    const int64_t rows = t->shape[1];
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t h = r / hd, j = r % hd, src_row = h * hd + (j % 2) * (hd / 2) + j / 2;
      for (int64_t c = 0; c < spec.dim; ++c)
        ASSERT_EQ(g[r * spec.dim + c], hf.data[src_row * spec.dim + c]) << which << " row " << r;
    }
  }
  // v is not permuted.
  const float* v = reinterpret_cast<const float*>(f->find_tensor("blk.0.attn_v.weight")->data);
  EXPECT_EQ(v[spec.dim + 3], src.at("model.layers.0.self_attn.v_proj.weight").data[spec.dim + 3]);
  EXPECT_NE(f->find_tensor("output.weight"), nullptr);
  auto tokens = f->get("tokenizer.ggml.tokens").as_string_array();
  auto types = f->get("tokenizer.ggml.token_type").as_i32_array();
  ASSERT_EQ(tokens.size(), 40u);  // padded to the embedding's rows
  EXPECT_EQ(tokens[39], "[PAD39]");
  EXPECT_EQ(types[39], 5);
  EXPECT_EQ(types[3], 6);  // <0x20>
  EXPECT_EQ(types[1], 3);
  EXPECT_EQ(f->get_int("tokenizer.ggml.bos_token_id"), 1);
  EXPECT_EQ(f->get_string("tokenizer.chat_template"),
            "{% for m in messages %}{{ m.content }}{% endfor %}");
  EXPECT_FALSE(report.notes.empty());
  auto model = Model::load(out);
  EXPECT_EQ(model->config().n_vocab, 40);
}

TEST(HfConvert, Qwen2ByteLevelTiedBiases) {
  const std::string dir = temp_dir() + "/hf_qwen2";
  HfSpec spec;
  spec.arch = "qwen2", spec.tied = true, spec.byte_level = true;
  auto src = write_hf_folder(dir, spec);  // tied: only lm_head.weight is stored
  const std::string out = temp_dir() + "/hf_qwen2.gguf";
  convert::convert_hf(dir, out, DType::F16);
  auto f = gguf::File::open(out);
  EXPECT_EQ(f->get_string("general.architecture"), "qwen2");
  EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(f->get_string("tokenizer.ggml.pre"), "qwen2");
  EXPECT_EQ(f->get("tokenizer.ggml.merges").as_string_array(),
            (std::vector<std::string>{"a b", "\xC4\xA0 a"}));
  auto types = f->get("tokenizer.ggml.token_type").as_i32_array();
  EXPECT_EQ(types[9], 3);   // <|endoftext|>: special -> CONTROL
  EXPECT_EQ(types[10], 4);  // <tool>: added, not special -> USER_DEFINED
  EXPECT_EQ(types[0], 1);
  EXPECT_EQ(f->find_tensor("output.weight"), nullptr);
  EXPECT_EQ(f->find_tensor("token_embd.weight")->type, DType::F16);
  EXPECT_EQ(f->find_tensor("blk.0.attn_q.bias")->type, DType::F32);
  EXPECT_EQ(f->find_tensor("blk.0.attn_norm.weight")->type, DType::F32);
  // qwen2 q is not permuted.
  const gguf::TensorInfo* q = f->find_tensor("blk.0.attn_q.weight");
  std::vector<float> row(spec.dim);
  dequantize_row(DType::F16, q->data + 1 * spec.dim * 2, row.data(), spec.dim);
  EXPECT_NEAR(row[5], src.at("model.layers.0.self_attn.q_proj.weight").data[spec.dim + 5], 1e-3);
  std::vector<float> embd(spec.dim);
  dequantize_row(DType::F16, f->find_tensor("token_embd.weight")->data, embd.data(), spec.dim);
  EXPECT_NEAR(embd[7], src.at("lm_head.weight").data[7], 1e-3);
  auto model = Model::load(out);
  EXPECT_TRUE(model->config().qkv_bias);
  EXPECT_TRUE(model->weights().tied_output);
}

}  // namespace
}  // namespace tandem
