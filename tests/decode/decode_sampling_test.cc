// spec with sampling is lossless: over many seeds the empirical distribution of
// the first and of the second generated token match the big model's exact
// distributions (the second one's marginal computed by enumerating the first).
//
// Test: Pearson chi-square over the vocabulary (bins with expected count < 5
// pooled into one), df = bins - 1, passing when chi2 < df + 6 sqrt(2 df) — about
// six standard deviations of the chi-square under the null, so a correct
// implementation fails with probability far below 1e-6; the seeds are fixed so
// the outcome is deterministic. A negative control checks that the same test
// rejects the little model's distribution.
#include <gtest/gtest.h>

#include <cmath>

#include "decode/decode_test_util.h"
#include "tandem/decode/probability.h"

namespace tandem::testing {
namespace {

using decode::DecodeOptions;
using decode::Mode;

std::vector<double> distribution_of(Model& m, const std::vector<int32_t>& tokens,
                                    const SamplingParams& sp) {
  KvCache c = m.make_cache(static_cast<int64_t>(tokens.size()) + 1, 1);
  std::vector<float> logits = m.forward_last(0, tokens, c, test_pool());
  Sampler s(sp);
  std::vector<double> p(m.config().n_vocab, 0.0);
  for (const auto& [t, prob] : s.distribution(logits, tokens)) p[t] = prob;
  return p;
}

struct ChiSquare {
  double chi2 = 0;
  int df = 0;
  bool pass() const { return chi2 < df + 6.0 * std::sqrt(2.0 * df); }
};

ChiSquare chi_square(const std::vector<int64_t>& counts, const std::vector<double>& p, int64_t n) {
  ChiSquare r;
  double pooled_e = 0, pooled_o = 0;
  int bins = 0;
  for (size_t t = 0; t < p.size(); ++t) {
    const double e = p[t] * n;
    if (e < 5) {
      pooled_e += e;
      pooled_o += counts[t];
      continue;
    }
    r.chi2 += (counts[t] - e) * (counts[t] - e) / e;
    ++bins;
  }
  if (pooled_e > 0) {
    r.chi2 += (pooled_o - pooled_e) * (pooled_o - pooled_e) / pooled_e;
    ++bins;
  } else if (pooled_o > 0) {
    r.chi2 = 1e30;  // tokens outside the support
  }
  r.df = std::max(bins - 1, 1);
  return r;
}

struct Case {
  float temperature;
  int top_k;
};

class SpecSampling : public ::testing::TestWithParam<Case> {};

TEST_P(SpecSampling, FirstAndSecondTokenMatchBig) {
  Pair& pair = tiny_pair();
  const std::vector<int32_t> prompt = {1, 5, 9, 3};
  SamplingParams sp;
  sp.temperature = GetParam().temperature;
  sp.top_k = GetParam().top_k;
  const int64_t v = pair.big->config().n_vocab;

  const std::vector<double> p0 = distribution_of(*pair.big, prompt, sp);
  std::vector<double> p1(v, 0.0);
  for (int32_t t0 = 0; t0 < v; ++t0) {
    if (p0[t0] == 0) continue;
    std::vector<int32_t> ctx = prompt;
    ctx.push_back(t0);
    const std::vector<double> q = distribution_of(*pair.big, ctx, sp);
    for (int64_t t = 0; t < v; ++t) p1[t] += p0[t0] * q[t];
  }
  const std::vector<double> little0 = distribution_of(*pair.little, prompt, sp);

  const int64_t n = kSanitized ? 500 : 2500;
  std::vector<int64_t> c0(v, 0), c1(v, 0);
  KvCache bc = pair.big->make_cache(32, 1), lc = pair.little->make_cache(32, 1);
  decode::Driver d(*pair.big, bc, pair.little.get(), &lc, test_pool());
  decode::DecodeStats total;
  for (int64_t i = 0; i < n; ++i) {
    DecodeOptions o;
    o.mode = Mode::kSpec;
    o.sampling = sp;
    o.sampling.seed = 1000 + i;
    o.draft_max = 3;
    o.max_new_tokens = 4;  // drafts cover tokens 0..2
    auto s = decode::make_strategy(prompt, o);
    d.run(*s);
    ASSERT_EQ(s->generated().size(), 4u);
    ++c0[s->generated()[0]];
    ++c1[s->generated()[1]];
    total += s->stats();
  }
  const ChiSquare x0 = chi_square(c0, p0, n), x1 = chi_square(c1, p1, n);
  const ChiSquare control = chi_square(c0, little0, n);
  EXPECT_TRUE(x0.pass()) << "first token: chi2 " << x0.chi2 << " df " << x0.df;
  EXPECT_TRUE(x1.pass()) << "second token: chi2 " << x1.chi2 << " df " << x1.df;
  EXPECT_FALSE(control.pass()) << "little's distribution should be rejected: chi2 " << control.chi2
                               << " df " << control.df;
  // Both branches of the rejection sampler ran.
  EXPECT_GT(total.accepted, 0);
  EXPECT_GT(total.rollbacks, 0);
  std::printf("first token chi2 %.1f (df %d), second %.1f (df %d), control %.1f; %s\n", x0.chi2,
              x0.df, x1.chi2, x1.df, control.chi2, total.summary().c_str());
}

INSTANTIATE_TEST_SUITE_P(Params, SpecSampling, ::testing::Values(Case{1.0f, 0}, Case{0.7f, 8}));

}  // namespace
}  // namespace tandem::testing
