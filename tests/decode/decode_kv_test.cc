// After rejected drafts and rollbacks both KV caches equal those of a fresh run
// over the accepted tokens: every forward a strategy asks for (after its
// truncate) gives the same logits as one forward over the whole sequence on an
// empty cache.
#include <gtest/gtest.h>

#include <cmath>

#include "decode/decode_test_util.h"

namespace tandem::testing {
namespace {

using decode::DecodeOptions;
using decode::Mode;
using decode::ModelRole;

void check_caches(const DecodeOptions& o) {
  Pair& pair = tiny_pair();
  const std::vector<int32_t> prompt = {1, 7, 2, 30, 4};
  const int64_t n_ctx = 64;
  KvCache caches[2] = {pair.big->make_cache(n_ctx, 1), pair.little->make_cache(n_ctx, 1)};
  Model* models[2] = {pair.big.get(), pair.little.get()};
  auto s = decode::make_strategy(prompt, o);
  ForwardOutput out, fresh;
  int checked = 0;
  while (auto req = s->next_request()) {
    const int i = req->model == ModelRole::kBig ? 0 : 1;
    std::vector<int32_t> ctx = s->context();
    if (req->prefill) ctx.pop_back();  // the prefill phase leaves the last prompt token out
    ASSERT_LE(req->keep, caches[i].length(0));
    ASSERT_EQ(req->keep + static_cast<int64_t>(req->input.tokens.size()),
              static_cast<int64_t>(ctx.size()));
    ASSERT_TRUE(
        std::equal(req->input.tokens.begin(), req->input.tokens.end(), ctx.begin() + req->keep));
    caches[i].truncate(0, req->keep);
    ForwardOptions fo;
    fo.logits = req->logits;
    models[i]->forward(std::span<const SequenceInput>(&req->input, 1), caches[i], fo, out,
                       test_pool());

    // The same sequence on an empty cache.
    KvCache clean = models[i]->make_cache(n_ctx, 1);
    SequenceInput all{0, ctx, {}};
    ForwardOptions fa;
    fa.logits = LogitsMode::kAll;
    models[i]->forward(std::span<const SequenceInput>(&all, 1), clean, fa, fresh, test_pool());
    const int64_t n_new = static_cast<int64_t>(req->input.tokens.size());
    const int64_t rows = req->logits == LogitsMode::kAll    ? n_new
                         : req->logits == LogitsMode::kLast ? 1
                                                            : 0;  // a prefill
    for (int64_t r = 0; r < rows; ++r) {
      const float* got = out.logits_of(0, r);
      const float* want = fresh.logits_of(0, static_cast<int64_t>(ctx.size()) - rows + r);
      for (int64_t t = 0; t < out.n_vocab; ++t)
        ASSERT_NEAR(got[t], want[t], 1e-4f * (1 + std::fabs(want[t])))
            << "model " << i << " row " << r << " token " << t;
    }
    ++checked;
    s->on_result(out, 0);
  }
  EXPECT_GT(checked, 10);
  EXPECT_GT(s->stats().rollbacks, 0) << s->stats().summary();
  EXPECT_GT(s->stats().accepted, 0) << s->stats().summary();
}

TEST(DecodeKv, SpecGreedy) {
  DecodeOptions o;
  o.mode = Mode::kSpec;
  o.draft_max = 4;
  o.max_new_tokens = 40;
  check_caches(o);
}

TEST(DecodeKv, SpecSampling) {
  DecodeOptions o;
  o.mode = Mode::kSpec;
  o.draft_max = 5;
  o.max_new_tokens = 40;
  o.sampling.temperature = 1.0f;
  o.sampling.seed = 7;
  check_caches(o);
}

TEST(DecodeKv, BildGreedyWithRollbackAndFallback) {
  DecodeOptions o;
  o.mode = Mode::kBild;
  o.draft_max = 6;
  o.alpha_fb = 0.05f;
  o.alpha_rb = 3.3f;
  o.max_new_tokens = 40;
  check_caches(o);
}

TEST(DecodeKv, BildSampling) {
  DecodeOptions o;
  o.mode = Mode::kBild;
  o.draft_max = 6;
  o.alpha_fb = 0.05f;
  o.alpha_rb = 3.3f;
  o.max_new_tokens = 40;
  o.sampling.temperature = 0.8f;
  o.sampling.seed = 3;
  check_caches(o);
}

}  // namespace
}  // namespace tandem::testing
