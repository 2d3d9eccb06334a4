#include "tandem/sim/rouge.h"

#include <gtest/gtest.h>

namespace tandem::sim {
namespace {

TEST(RougeL, HandComputed) {
  // LCS "the cat on the mat" = 5 of 6 words each way.
  RougeL r = rouge_l("the cat sat on the mat", "the cat lay on the mat");
  EXPECT_NEAR(r.precision, 5.0 / 6, 1e-12);
  EXPECT_NEAR(r.recall, 5.0 / 6, 1e-12);
  EXPECT_NEAR(r.f1, 5.0 / 6, 1e-12);
  // Unequal lengths: LCS 2, P = 2/2, R = 2/5, F1 = 2 * 1 * 0.4 / 1.4.
  r = rouge_l("a b", "a x b y z");
  EXPECT_NEAR(r.precision, 1.0, 1e-12);
  EXPECT_NEAR(r.recall, 0.4, 1e-12);
  EXPECT_NEAR(r.f1, 0.8 / 1.4, 1e-12);
  // Order matters: LCS of [a b c d] and [b d a c] is 2.
  EXPECT_EQ(lcs_length(split_words("a b c d"), split_words("b d a c")), 2u);
  EXPECT_NEAR(rouge_l("a b c d", "b d a c").f1, 0.5, 1e-12);
  // Whitespace of any kind separates; case matters.
  EXPECT_EQ(split_words("  x\n\ty  z ").size(), 3u);
  EXPECT_NEAR(rouge_l("The", "the").f1, 0.0, 1e-12);
  EXPECT_NEAR(rouge_l("same words here", "same\nwords  here").f1, 1.0, 1e-12);
  EXPECT_EQ(rouge_l("", "x").f1, 0.0);
  EXPECT_EQ(rouge_l("x", "").f1, 0.0);
}

}  // namespace
}  // namespace tandem::sim
