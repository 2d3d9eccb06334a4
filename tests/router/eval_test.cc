// selection_score: the validation score `tandem router train --seeds` selects on.
#include <gtest/gtest.h>

#include "tandem/base/error.h"
#include "tandem/router/eval.h"

namespace tandem::router {
namespace {

EvalCell cell(const std::string& policy, const std::string& workload, double avail, double w96) {
  EvalCell c;
  c.policy = policy;
  c.workload = workload;
  c.m.availability = avail;
  c.m.windows_96 = w96;
  // Four windows, round(4 * w96) of them at >= 96 %.
  for (int i = 0; i < 4; ++i) {
    sim::Window w;
    w.quality_frac = i < static_cast<int>(4 * w96 + 0.5) ? 0.97 : 0.5;
    c.m.windows.push_back(w);
  }
  return c;
}

EvalReport statics() {
  EvalReport r;
  r.policies = {"fixed:quality", "fixed:economy"};
  r.max_rate_rps = {2, 20};
  r.cells = {cell("fixed:quality", "a", 0.3, 0.25), cell("fixed:economy", "a", 1.0, 0.0),
             cell("fixed:quality", "b", 0.2, 0.0), cell("fixed:economy", "b", 1.0, 0.5)};
  return r;
}

EvalReport candidate(double rate, double a_avail, double a96, double b_avail, double b96) {
  EvalReport r;
  r.policies = {"learned:x"};
  r.max_rate_rps = {rate};
  r.cells = {cell("learned:x", "a", a_avail, a96), cell("learned:x", "b", b_avail, b96)};
  return r;
}

TEST(Selection, ScoreMeetsTargetsThenBonus) {
  // 6x the rate, pooled >=96 share 6 of 8 windows vs 1 of 8 (6x), per workload a: 0.75 vs
  // 0.25 (3x), b: 0.75 vs 0 (4, "more than zero vs zero"); nothing dominates it.
  const SelectionScore s = selection_score(statics(), candidate(12, 0.99, 0.75, 0.99, 0.75));
  EXPECT_DOUBLE_EQ(s.rate_x, 6);
  EXPECT_DOUBLE_EQ(s.share_x, 6.0);
  EXPECT_DOUBLE_EQ(s.worst_share_x, 3);
  EXPECT_EQ(s.dominated, 0);
  EXPECT_NEAR(s.score, 1 + 1 + 0.5 + 0.05 * (0.6 + 1.0), 1e-12);
}

TEST(Selection, ShortfallsAndDominationCost) {
  // 2.5x the rate, pooled 2 of 8 vs 1 of 8 (2x), workload a 0.25 vs 0.25 (1x), and on b
  // fixed:economy has both more availability (1.0 > 0.95) and more >=96 windows (0.5 > 0.25).
  const SelectionScore s = selection_score(statics(), candidate(5, 0.99, 0.25, 0.95, 0.25));
  EXPECT_DOUBLE_EQ(s.rate_x, 2.5);
  EXPECT_DOUBLE_EQ(s.share_x, 2);
  EXPECT_DOUBLE_EQ(s.worst_share_x, 1);
  EXPECT_EQ(s.dominated, 1);
  EXPECT_NEAR(s.score, 0.5 + 1 + 0.25 + 0.05 * (0.25 + 0.5) - 0.25, 1e-12);
  // A better candidate scores higher.
  EXPECT_GT(selection_score(statics(), candidate(12, 0.99, 0.75, 0.99, 0.75)).score, s.score);
}

TEST(Selection, NeedsOneCandidate) {
  EvalReport two = candidate(1, 1, 1, 1, 1);
  two.policies.push_back("learned:y");
  EXPECT_THROW(selection_score(statics(), two), Error);
}

}  // namespace
}  // namespace tandem::router
