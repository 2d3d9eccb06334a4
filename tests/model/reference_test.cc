// Forward-pass logits against the independent NumPy float64 reference
// (tests/reference/llama_ref.py), over shapes (GQA or not, tied or not, qwen2
// biases and NeoX RoPE, linear RoPE scaling) and every weight type.
//
// Error measure: max |ours - ref| / max |ref| over all logits of all tokens.
// Bounds: F32 1e-4 (the bound; f32 vs f64 arithmetic only). F16/BF16
// weights are dequantised exactly by both sides, so they too differ only by
// arithmetic: 1e-4. Q8_0/Q4_0/Q4_K/Q6_K: the reference dequantises the same
// stored weights exactly, but our integer kernels also quantise the
// activations to 8 bits per matmul (Q8_0 / Q8_K blocks, relative step ~1/127 of
// each block's absmax), an error that compounds through the layers: 3e-2.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "tandem/base/big_buffer.h"
#include "tandem/kernels/cpu/packed.h"
#include "tandem/model/model.h"
#include "test_models.h"

namespace tandem {
namespace {
using testing::reference_available;
using testing::reference_forward;
using testing::tiny_spec;
using testing::write_model;

struct Case {
  std::string name;
  SynthSpec spec;
  double bound;
};

std::vector<Case> cases() {
  std::vector<Case> out;
  SynthSpec mha = tiny_spec();
  out.push_back({"f32_mha_untied", mha, 1e-4});
  SynthSpec gqa = tiny_spec();
  gqa.n_head = 8, gqa.n_head_kv = 2, gqa.tied_output = true, gqa.rope_scale = 2.0f;
  gqa.rope_base = 500000.0f;
  out.push_back({"f32_gqa_tied_linear_rope", gqa, 1e-4});
  SynthSpec qwen = tiny_spec();
  qwen.arch = "qwen2", qwen.n_head_kv = 2, qwen.n_layer = 3;
  out.push_back({"f32_qwen2", qwen, 1e-4});
  for (auto [t, bound] : {std::pair{DType::F16, 1e-4},
                          {DType::BF16, 1e-4},
                          {DType::Q8_0, 3e-2},
                          {DType::Q4_0, 3e-2}}) {
    SynthSpec s = gqa;
    s.type = t;
    out.push_back({std::string(dtype_name(t)) + "_gqa", s, bound});
  }
  // K-quants need rows that are multiples of 256; these widths also put the
  // packed F16, BF16, Q8_0 and Q4_0 layouts (cpu/packed.h) through end to end.
  SynthSpec big = tiny_spec();
  big.dim = 256, big.ffn_dim = 512, big.n_head = 4, big.n_head_kv = 2, big.n_vocab = 300;
  for (DType t : {DType::Q4_K, DType::Q6_K, DType::Q8_0, DType::Q4_0, DType::F16, DType::BF16}) {
    SynthSpec s = big;
    s.type = t;
    out.push_back({std::string(dtype_name(t)) + "_gqa_dim256", s, 3e-2});
  }
  // Matrices of 2 MiB and more are copied into huge pages at load
  // (kernels::pack_for_loading): a tied F32 output of 2050 x 256 (2 MiB + 2 KiB, its
  // copy also serving the embedding lookups) and F32 FFN matrices of 2048 x 256.
  SynthSpec wide = big;
  wide.type = DType::F32, wide.tied_output = true, wide.n_vocab = 2050;
  out.push_back({"f32_tied_vocab2050_copied", wide, 1e-4});
  SynthSpec ffn = big;
  ffn.ffn_dim = 2048, ffn.n_layer = 1;
  out.push_back({"f32_ffn2048_copied", ffn, 1e-4});
  SynthSpec mix = big;
  mix.type = DType::Q4_K, mix.type_high = DType::Q6_K;
  out.push_back({"Q4_K_M_mix", mix, 3e-2});
  return out;
}

double rel_error(const float* ours, const double* ref, size_t n) {
  double max_ref = 0, max_diff = 0;
  for (size_t i = 0; i < n; ++i) {
    max_ref = std::max(max_ref, std::abs(ref[i]));
    max_diff = std::max(max_diff, std::abs(static_cast<double>(ours[i]) - ref[i]));
  }
  return max_diff / std::max(max_ref, 1e-30);
}

class ReferenceTest : public ::testing::TestWithParam<Case> {};

TEST_P(ReferenceTest, AllTokenLogitsMatchNumpy) {
  std::string why;
  if (!reference_available(&why)) GTEST_SKIP() << why;
  const Case& c = GetParam();
  const std::string path = write_model(c.spec, c.name + ".gguf");
  // The "_copied" cases load with huge pages on, so their large matrices are copied.
  const bool copied = c.name.ends_with("_copied");
  BigBuffer::enable_huge_pages(copied);
  const bool can_copy = BigBuffer::huge_pages_usable();
  auto model = Model::load(path);
  BigBuffer::enable_huge_pages(false);
  if (copied && !can_copy) GTEST_SKIP() << "no transparent huge pages here: nothing is copied";
  if (copied) {
    ASSERT_FALSE(model->weights().packed.empty());
    EXPECT_EQ(model->weights().packed[0].view.layout, kernels::Layout::kRows);
  }
  // These cases exist to cover the packed layouts.
  if (c.name == "Q8_0_gqa_dim256") {
    ASSERT_EQ(model->weights().layers[0].w_down.layout, kernels::Layout::kQ8_0x8);
  }
  if (c.name == "Q4_0_gqa_dim256") {
    ASSERT_EQ(model->weights().layers[0].w_down.layout, kernels::Layout::kQ4_0x8);
  }
  if (c.name == "F16_gqa_dim256" || c.name == "BF16_gqa_dim256") {
    ASSERT_EQ(model->weights().layers[0].w_down.layout, kernels::Layout::kHalfx4);
    ASSERT_EQ(model->weights().output.layout, kernels::Layout::kHalfx4);
  }
  ThreadPool pool(2);
  KvCache cache = model->make_cache(64, 1);
  const std::vector<int32_t> tokens = {1, 17, 42, 5, 99, 3, 250, 7, 64, 11};
  SequenceInput in{0, tokens, {}};
  ForwardOptions opt;
  opt.logits = LogitsMode::kAll;
  ForwardOutput out;
  model->forward(std::span<const SequenceInput>(&in, 1), cache, opt, out, pool);

  const std::vector<double> ref = reference_forward(path, tokens);
  ASSERT_EQ(ref.size(), out.logits.size());
  const double err = rel_error(out.logits.data(), ref.data(), ref.size());
  RecordProperty("relative_error", fmt::format("{:.3g}", err));
  EXPECT_LE(err, c.bound) << c.name;
  // Not trivially passing: the logits of different tokens differ.
  const int64_t V = model->config().n_vocab;
  EXPECT_GT(rel_error(out.logits.data(), ref.data() + V, V), 10 * c.bound);
}

TEST_P(ReferenceTest, HiddenStateAfterLayerMatchesNumpy) {
  std::string why;
  if (!reference_available(&why)) GTEST_SKIP() << why;
  const Case& c = GetParam();
  const std::string path = write_model(c.spec, c.name + ".gguf");
  auto model = Model::load(path);
  ThreadPool pool(2);
  KvCache cache = model->make_cache(64, 1);
  const std::vector<int32_t> tokens = {3, 1, 4, 1, 5, 9};
  SequenceInput in{0, tokens, {}};
  ForwardOptions opt;
  opt.logits = LogitsMode::kNone;
  opt.hidden_layer = 0;
  ForwardOutput out;
  model->forward(std::span<const SequenceInput>(&in, 1), cache, opt, out, pool);
  const std::vector<double> ref = reference_forward(path, tokens, 0);
  ASSERT_EQ(ref.size(), out.hidden.size());
  EXPECT_LE(rel_error(out.hidden.data(), ref.data(), ref.size()), c.bound);
}

INSTANTIATE_TEST_SUITE_P(Shapes, ReferenceTest, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace tandem
