// The forward-pass interface that speculative decoding, SPEED and continuous
// batching rely on: batches of several sequences with several tokens each,
// truncate, layer ranges and hidden states.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "tandem/model/model.h"
#include "test_models.h"

namespace tandem {
namespace {
using testing::tiny_spec;
using testing::write_model;

float max_abs_diff(const float* a, const float* b, int64_t n) {
  float m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

struct Fixture {
  std::unique_ptr<Model> model;
  ThreadPool pool{2};
  int64_t V = 0;
  explicit Fixture(DType type) {
    SynthSpec s = tiny_spec();
    s.n_head = 8, s.n_head_kv = 2, s.type = type;
    model = Model::load(write_model(s, fmt::format("batch_{}.gguf", dtype_name(type))));
    V = model->config().n_vocab;
  }
  // Logits of every token when fed one token per forward call.
  std::vector<std::vector<float>> one_by_one(const std::vector<int32_t>& toks) {
    KvCache cache = model->make_cache(64, 1);
    std::vector<std::vector<float>> rows;
    for (int32_t t : toks) rows.push_back(model->forward_last(0, std::span(&t, 1), cache, pool));
    return rows;
  }
};

class BatchTest : public ::testing::TestWithParam<DType> {};

TEST_P(BatchTest, MultiSequenceBatchEqualsOneTokenAtATime) {
  Fixture f(GetParam());
  const std::vector<std::vector<int32_t>> seqs = {
      {5, 6, 7, 8, 9, 10, 11}, {200, 3}, {42}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}};
  KvCache cache = f.model->make_cache(64, 4);
  std::vector<SequenceInput> batch;
  // Sequence ids deliberately not in batch order.
  for (size_t i = 0; i < seqs.size(); ++i) batch.push_back({static_cast<int>(3 - i), seqs[i], {}});
  ForwardOptions opt;
  opt.logits = LogitsMode::kAll;
  ForwardOutput out;
  f.model->forward(batch, cache, opt, out, f.pool);
  for (size_t e = 0; e < seqs.size(); ++e) {
    auto ref = f.one_by_one(seqs[e]);
    for (size_t i = 0; i < seqs[e].size(); ++i)
      EXPECT_LT(max_abs_diff(out.logits_of(e, i), ref[i].data(), f.V), 1e-4f)
          << "entry " << e << " token " << i;
    EXPECT_EQ(cache.length(batch[e].seq), static_cast<int64_t>(seqs[e].size()));
  }
  // A continuation batch (decode step of every sequence) also matches.
  std::vector<SequenceInput> step;
  for (size_t e = 0; e < seqs.size(); ++e) step.push_back({batch[e].seq, {77}, {}});
  ForwardOutput out2;
  f.model->forward(step, cache, ForwardOptions{}, out2, f.pool);
  for (size_t e = 0; e < seqs.size(); ++e) {
    auto toks = seqs[e];
    toks.push_back(77);
    auto ref = f.one_by_one(toks);
    EXPECT_LT(max_abs_diff(out2.logits_of(e), ref.back().data(), f.V), 1e-4f) << "entry " << e;
  }
}

TEST_P(BatchTest, TruncateThenRefeedEqualsFreshRun) {
  Fixture f(GetParam());
  KvCache cache = f.model->make_cache(64, 1);
  const std::vector<int32_t> prefix = {9, 8, 7, 6};
  const std::vector<int32_t> wrong = {100, 101, 102};
  const std::vector<int32_t> right = {55, 66};
  f.model->forward_last(0, prefix, cache, f.pool);
  auto wrong_logits = f.model->forward_last(0, wrong, cache, f.pool);
  ASSERT_EQ(cache.length(0), 7);
  cache.truncate(0, 4);
  EXPECT_EQ(cache.length(0), 4);
  auto after = f.model->forward_last(0, right, cache, f.pool);

  KvCache fresh = f.model->make_cache(64, 1);
  std::vector<int32_t> all = prefix;
  all.insert(all.end(), right.begin(), right.end());
  auto expect = f.model->forward_last(0, all, fresh, f.pool);
  EXPECT_LT(max_abs_diff(after.data(), expect.data(), f.V), 1e-5f);
  // And the discarded tokens did matter: without truncation the result differs.
  KvCache stale = f.model->make_cache(64, 1);
  std::vector<int32_t> with_wrong = prefix;
  with_wrong.insert(with_wrong.end(), wrong.begin(), wrong.end());
  with_wrong.insert(with_wrong.end(), right.begin(), right.end());
  auto polluted = f.model->forward_last(0, with_wrong, stale, f.pool);
  EXPECT_GT(max_abs_diff(polluted.data(), expect.data(), f.V), 1e-3f);
}

TEST_P(BatchTest, LayerRangesComposeToTheFullForward) {
  Fixture f(GetParam());
  const std::vector<int32_t> toks = {4, 8, 15, 16, 23, 42};
  KvCache full_cache = f.model->make_cache(64, 1);
  ForwardOptions all;
  all.logits = LogitsMode::kAll;
  SequenceInput in{0, toks, {}};
  ForwardOutput full;
  f.model->forward(std::span(&in, 1), full_cache, all, full, f.pool);

  KvCache split_cache = f.model->make_cache(64, 1);
  ForwardOptions first;
  first.layer_end = 1;
  first.logits = LogitsMode::kNone;
  ForwardOutput a;
  f.model->forward(std::span(&in, 1), split_cache, first, a, f.pool);
  ASSERT_EQ(a.hidden.size(), toks.size() * f.model->config().dim);
  // Layer 0 now holds the tokens, later layers do not yet.
  EXPECT_EQ(split_cache.length(0, 0), 6);
  EXPECT_EQ(split_cache.length(0, 1), 0);
  EXPECT_EQ(split_cache.length(0), 0);
  ForwardOptions rest;
  rest.layer_begin = 1;
  rest.logits = LogitsMode::kAll;
  rest.hidden_in = a.hidden;
  ForwardOutput b;
  f.model->forward(std::span(&in, 1), split_cache, rest, b, f.pool);
  EXPECT_LT(max_abs_diff(b.logits.data(), full.logits.data(), full.logits.size()), 1e-5f);
}

INSTANTIATE_TEST_SUITE_P(Types, BatchTest,
                         ::testing::Values(DType::F32, DType::F16, DType::Q8_0, DType::Q4_0),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(Model, ExplicitPositionsChangeRope) {
  SynthSpec s = tiny_spec();
  auto model = Model::load(write_model(s, "positions.gguf"));
  ThreadPool pool(1);
  KvCache c1 = model->make_cache(16, 1), c2 = model->make_cache(16, 1);
  SequenceInput a{0, {5, 6}, {}}, b{0, {5, 6}, {0, 1}}, c{0, {5, 6}, {3, 9}};
  ForwardOutput oa, ob, oc;
  model->forward(std::span(&a, 1), c1, ForwardOptions{}, oa, pool);
  model->forward(std::span(&b, 1), c2, ForwardOptions{}, ob, pool);
  EXPECT_EQ(oa.logits, ob.logits);
  KvCache c3 = model->make_cache(16, 1);
  model->forward(std::span(&c, 1), c3, ForwardOptions{}, oc, pool);
  EXPECT_GT(max_abs_diff(oa.logits.data(), oc.logits.data(), model->config().n_vocab), 1e-4f);
}

}  // namespace
}  // namespace tandem
