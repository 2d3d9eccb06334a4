// tandem quantize: per-tensor types follow the documented rule (incl. Q4_K_M),
// every output loads, and Q8_0 logits stay close to F32.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "tandem/base/error.h"
#include "tandem/convert/quantize_model.h"
#include "tandem/gguf/reader.h"
#include "tandem/model/model.h"
#include "tandem/model/synth.h"
#include "test_util.h"

namespace tandem {
namespace {
using namespace tandem::testing;

SynthSpec spec256(bool tied) {
  SynthSpec s;
  s.n_vocab = 300, s.dim = 256, s.n_layer = 2, s.n_head = 4, s.n_head_kv = 2, s.ffn_dim = 512;
  s.tied_output = tied;
  return s;
}

std::string write_synth(const SynthSpec& s, const std::string& name, ThreadPool& pool) {
  const std::string p = temp_dir() + "/" + name;
  synth_model(s, p, pool);
  return p;
}

TEST(Quantize, Q4KMRule) {
  ThreadPool pool(1);
  for (bool tied : {false, true}) {
    const std::string in = write_synth(spec256(tied), tied ? "q_tied.gguf" : "q_untied.gguf", pool);
    const std::string out = temp_dir() + "/q4km.gguf";
    convert::quantize_model(in, out, convert::TargetType::parse("Q4_K_M"), pool);
    auto f = gguf::File::open(out);
    for (const gguf::TensorInfo& t : f->tensors()) {
      DType want = DType::Q4_K;
      if (t.shape.size() == 1)
        want = DType::F32;
      else if (t.name == "output.weight" || (tied && t.name == "token_embd.weight") ||
               t.name.find("attn_v.weight") != std::string::npos ||
               t.name.find("ffn_down.weight") != std::string::npos)
        want = DType::Q6_K;
      EXPECT_EQ(t.type, want) << t.name << (tied ? " (tied)" : "");
    }
    EXPECT_EQ(f->get_int("general.file_type"), 15);
    EXPECT_NO_THROW(Model::load(out));
  }
}

TEST(Quantize, EveryTypeLoadsAndQ8_0LogitsStayClose) {
  ThreadPool pool(1);
  const std::string in = write_synth(spec256(false), "q_src.gguf", pool);
  const std::vector<int32_t> toks = {1, 17, 42, 99, 5, 250, 3, 77};
  auto logits = [&](const std::string& path) {
    auto m = Model::load(path);
    KvCache cache = m->make_cache(16, 1);
    std::vector<SequenceInput> batch(1);
    batch[0].tokens = toks;
    ForwardOptions opt;
    opt.logits = LogitsMode::kAll;
    ForwardOutput out;
    m->forward(batch, cache, opt, out, pool);
    return out.logits;
  };
  const std::vector<float> ref = logits(in);
  float ref_max = 0;
  for (float x : ref) ref_max = std::max(ref_max, std::abs(x));
  for (const char* type : {"F16", "BF16", "Q8_0", "Q4_0", "Q4_K", "Q6_K", "F32"}) {
    const std::string out = temp_dir() + "/q_" + type + ".gguf";
    auto r = convert::quantize_model(in, out, convert::TargetType::parse(type), pool);
    auto f = gguf::File::open(out);
    EXPECT_EQ(f->find_tensor("blk.0.ffn_up.weight")->type, *dtype_from_name(type)) << type;
    EXPECT_EQ(f->find_tensor("blk.0.ffn_norm.weight")->type, DType::F32) << type;
    const std::vector<float> q = logits(out);
    ASSERT_EQ(q.size(), ref.size());
    float max_diff = 0;
    double err2 = 0, ref2 = 0;
    for (size_t i = 0; i < q.size(); ++i) {
      max_diff = std::max(max_diff, std::abs(q[i] - ref[i]));
      err2 += double(q[i] - ref[i]) * (q[i] - ref[i]);
      ref2 += double(ref[i]) * ref[i];
    }
    const double rel_rms = std::sqrt(err2 / ref2);
    std::printf(
        "%-5s max |logit - F32 logit| = %.5f (%.4f of max |F32 logit| %.3f), relative "
        "RMS error %.4f\n",
        type, max_diff, max_diff / ref_max, ref_max, rel_rms);
    // Q8_0 bounds over 8 tokens x 300 logits of a random 2-layer dim-256 model
    // (measured: max 2.4 % of the largest logit, relative RMS error 1.6 %).
    if (std::string(type) == "Q8_0") {
      EXPECT_LE(max_diff, 0.05f * ref_max);
      EXPECT_LE(rel_rms, 0.025);
    }
    if (std::string(type) == "F32") {
      EXPECT_EQ(max_diff, 0.0f);
    }
  }
}

TEST(Quantize, RowLengthFallbackAndErrors) {
  ThreadPool pool(1);
  SynthSpec s;
  s.dim = 96, s.ffn_dim = 160, s.n_head = 4, s.n_head_kv = 4, s.n_vocab = 64;
  const std::string in = write_synth(s, "q_odd.gguf", pool);
  const std::string out = temp_dir() + "/q_odd_q4k.gguf";
  auto r = convert::quantize_model(in, out, DType::Q4_K, pool);
  // 96 and 160 are multiples of 32 but not 256: Q8_0, with a note per tensor.
  EXPECT_EQ(r.tensor_types.at("blk.0.attn_q.weight"), DType::Q8_0);
  EXPECT_EQ(r.tensor_types.at("blk.0.ffn_down.weight"), DType::Q8_0);
  ASSERT_FALSE(r.notes.empty());
  EXPECT_NE(r.notes[0].find("not a multiple of Q4_K's block of 256"), std::string::npos)
      << r.notes[0];
  EXPECT_NO_THROW(Model::load(out));
  EXPECT_THROW(convert::TargetType::parse("Q5_K"), tandem::Error);
  EXPECT_THROW(convert::quantize_model(in, in, DType::Q8_0, pool), tandem::Error);
  EXPECT_THROW(convert::quantize_model(temp_dir() + "/none.gguf", out, DType::Q8_0, pool),
               tandem::Error);
}

}  // namespace
}  // namespace tandem
