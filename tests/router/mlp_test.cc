#include "tandem/router/mlp.h"

#include <gtest/gtest.h>

namespace tandem::router {
namespace {

// L = 0.5 * sum((Y - T)^2), so dL/dY = Y - T.
double loss(const Mlp& net, const Mat& x, const Mat& t) {
  return 0.5 * (net.forward(x) - t).squaredNorm();
}

TEST(Mlp, GradientMatchesFiniteDifferences) {
  Mlp net(5, 7, 6, 3, 42);
  Mat x = Mat::Random(5, 4);
  Mat t = Mat::Random(3, 4);
  const MlpGrads g = net.backward(x, net.forward(x) - t);
  const double h = 1e-6;
  int checked = 0;
  for (int l = 0; l < 3; ++l) {
    for (Eigen::Index i = 0; i < net.w[l].size(); i += 3) {
      Mlp a = net, b = net;
      a.w[l].data()[i] += h;
      b.w[l].data()[i] -= h;
      const double fd = (loss(a, x, t) - loss(b, x, t)) / (2 * h);
      EXPECT_NEAR(g.w[l].data()[i], fd, 1e-6 * std::max(1.0, std::abs(fd))) << "layer " << l;
      ++checked;
    }
    for (Eigen::Index i = 0; i < net.b[l].size(); ++i) {
      Mlp a = net, b = net;
      a.b[l](i) += h;
      b.b[l](i) -= h;
      const double fd = (loss(a, x, t) - loss(b, x, t)) / (2 * h);
      EXPECT_NEAR(g.b[l](i), fd, 1e-6 * std::max(1.0, std::abs(fd))) << "bias " << l;
      ++checked;
    }
  }
  EXPECT_GT(checked, 40);
}

TEST(Mlp, AdamFitsASmallRegression) {
  Mlp net(2, 16, 16, 1, 7);
  Adam adam(net, 1e-2);
  Mat x = Mat::Random(2, 64);
  Mat t = (x.row(0).array() * 2 - x.row(1).array()).matrix();
  const double before = loss(net, x, t);
  for (int i = 0; i < 500; ++i) adam.step(net, net.backward(x, net.forward(x) - t));
  EXPECT_LT(loss(net, x, t), 0.02 * before);
}

TEST(Mlp, SeededInitIsReproducible) {
  Mlp a(4, 8, 8, 2, 5), b(4, 8, 8, 2, 5), c(4, 8, 8, 2, 6);
  EXPECT_EQ(a.w[0], b.w[0]);
  EXPECT_NE(a.w[0], c.w[0]);
}

}  // namespace
}  // namespace tandem::router
