// Percentiles against exact hand-computed values (linear interpolation
// between order statistics, numpy's default).
#include <gtest/gtest.h>

#include <cmath>

#include "tandem/loadgen/stats.h"

namespace tandem::loadgen {
namespace {

TEST(Stats, PercentileExactValues) {
  const std::vector<double> v = {15, 20, 35, 40, 50};  // unsorted input is fine too
  EXPECT_DOUBLE_EQ(percentile(v, 0), 15);
  EXPECT_DOUBLE_EQ(percentile(v, 100), 50);
  EXPECT_DOUBLE_EQ(percentile(v, 50), 35);
  EXPECT_DOUBLE_EQ(percentile(v, 40), 29);    // rank 1.6: 20 + 0.6 * 15
  EXPECT_DOUBLE_EQ(percentile(v, 90), 46);    // rank 3.6: 40 + 0.6 * 10
  EXPECT_DOUBLE_EQ(percentile(v, 99), 49.6);  // rank 3.96
  EXPECT_DOUBLE_EQ(percentile({50, 40, 15, 35, 20}, 40), 29);
  EXPECT_DOUBLE_EQ(percentile({7}, 99), 7);
  EXPECT_DOUBLE_EQ(percentile({1, 2}, 50), 1.5);
  EXPECT_TRUE(std::isnan(percentile({}, 50)));
}

TEST(Stats, PercentileOfOneToHundred) {
  std::vector<double> v;
  for (int i = 100; i >= 1; --i) v.push_back(i);
  EXPECT_DOUBLE_EQ(percentile(v, 50), 50.5);
  EXPECT_DOUBLE_EQ(percentile(v, 90), 90.1);
  EXPECT_DOUBLE_EQ(percentile(v, 99), 99.01);
}

TEST(Stats, Summary) {
  const Summary s = summarize({4, 1, 3, 2});
  EXPECT_EQ(s.count, 4u);
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  EXPECT_DOUBLE_EQ(s.p50, 2.5);
  EXPECT_DOUBLE_EQ(s.p90, 3.7);
  EXPECT_DOUBLE_EQ(s.max, 4);
  EXPECT_TRUE(std::isnan(summarize({}).p99));
  EXPECT_EQ(summarize({}).count, 0u);
}

}  // namespace
}  // namespace tandem::loadgen
