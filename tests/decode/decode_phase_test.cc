// The prefill phase: every strategy first runs prompt[0, n-1) once through each
// model it uses (requests marked `prefill`, keep 0, no logits), then generates;
// a one-token prompt has no prefill phase. The Driver books the two phases
// apart and counts the generation phase's forward sizes.
#include <gtest/gtest.h>

#include "decode/decode_test_util.h"

namespace tandem::testing {
namespace {

using decode::DecodeOptions;
using decode::Mode;
using decode::ModelRole;

std::vector<decode::ForwardRequest> requests_of(const std::vector<int32_t>& prompt,
                                                const DecodeOptions& o) {
  Pair& pair = tiny_pair();
  KvCache bc = pair.big->make_cache(64, 1), lc = pair.little->make_cache(64, 1);
  Model* models[2] = {pair.big.get(), pair.little.get()};
  KvCache* caches[2] = {&bc, &lc};
  auto s = decode::make_strategy(prompt, o);
  std::vector<decode::ForwardRequest> seen;
  ForwardOutput out;
  while (auto req = s->next_request()) {
    const int i = req->model == ModelRole::kBig ? 0 : 1;
    caches[i]->truncate(0, req->keep);
    ForwardOptions fo;
    fo.logits = req->logits;
    models[i]->forward(std::span<const SequenceInput>(&req->input, 1), *caches[i], fo, out,
                       test_pool());
    seen.push_back(*req);
    s->on_result(out, 0);
  }
  return seen;
}

void expect_prefill(const decode::ForwardRequest& r, ModelRole m, const std::vector<int32_t>& p) {
  EXPECT_TRUE(r.prefill);
  EXPECT_EQ(r.model, m);
  EXPECT_EQ(r.keep, 0);
  EXPECT_EQ(r.logits, LogitsMode::kNone);
  EXPECT_EQ(r.input.tokens, std::vector<int32_t>(p.begin(), p.end() - 1));
}

TEST(DecodePhase, EveryModelPrefillsOnceThenGenerationStartsAtTheLastPromptToken) {
  const std::vector<int32_t> prompt = {1, 7, 2, 30, 4};
  DecodeOptions o;
  o.max_new_tokens = 12;
  for (Mode m : {Mode::kAr, Mode::kSpec, Mode::kBild}) {
    o.mode = m;
    const auto reqs = requests_of(prompt, o);
    const size_t n_prefill = m == Mode::kAr ? 1 : 2;
    ASSERT_GT(reqs.size(), n_prefill);
    expect_prefill(reqs[0], ModelRole::kBig, prompt);
    if (m != Mode::kAr) expect_prefill(reqs[1], ModelRole::kLittle, prompt);
    for (size_t i = n_prefill; i < reqs.size(); ++i) EXPECT_FALSE(reqs[i].prefill);
    const decode::ForwardRequest& first = reqs[n_prefill];
    EXPECT_EQ(first.keep, static_cast<int64_t>(prompt.size()) - 1);
    EXPECT_EQ(first.input.tokens.front(), prompt.back());
  }
}

TEST(DecodePhase, OneTokenPromptHasNoPrefill) {
  DecodeOptions o;
  o.max_new_tokens = 6;
  for (Mode m : {Mode::kAr, Mode::kSpec, Mode::kBild}) {
    o.mode = m;
    for (const auto& r : requests_of({1}, o)) EXPECT_FALSE(r.prefill);
  }
}

TEST(DecodePhase, DriverBooksPhasesApart) {
  Pair& pair = tiny_pair();
  KvCache bc = pair.big->make_cache(64, 1), lc = pair.little->make_cache(64, 1);
  decode::Driver d(*pair.big, bc, pair.little.get(), &lc, test_pool());
  DecodeOptions o;
  o.mode = Mode::kSpec;
  o.draft_max = 3;
  o.max_new_tokens = 20;
  auto s = decode::make_strategy({1, 7, 2, 30, 4}, o);
  d.run(*s);
  EXPECT_EQ(d.calls(ModelRole::kBig, true), 1);
  EXPECT_EQ(d.calls(ModelRole::kLittle, true), 1);
  EXPECT_EQ(d.calls(ModelRole::kBig), s->stats().big_calls);
  EXPECT_EQ(d.calls(ModelRole::kLittle), s->stats().little_calls);
  int64_t calls = 0, tokens = 0;
  for (const auto& [k, n] : d.call_sizes(ModelRole::kBig)) calls += n, tokens += k * n;
  EXPECT_EQ(calls, d.calls(ModelRole::kBig, false));
  EXPECT_EQ(tokens + 4, s->stats().big_tokens);  // + the prefill's 4 tokens
  EXPECT_GT(d.seconds(ModelRole::kBig, true), 0.0);
  d.reset_timing();
  EXPECT_EQ(d.calls(ModelRole::kBig), 0);
  EXPECT_TRUE(d.call_sizes(ModelRole::kBig).empty());
}

}  // namespace
}  // namespace tandem::testing
