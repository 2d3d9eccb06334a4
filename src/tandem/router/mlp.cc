#include "tandem/router/mlp.h"

#include <cmath>

namespace tandem::router {
namespace {

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

Mlp::Mlp(int in, int h1, int h2, int out, uint64_t seed) {
  const int dims[4] = {in, h1, h2, out};
  uint64_t s = seed * 0x2545F4914F6CDD1DULL + 12345;
  for (int l = 0; l < 3; ++l) {
    w[l].resize(dims[l + 1], dims[l]);
    b[l] = Vec::Zero(dims[l + 1]);
    const double bound = std::sqrt(6.0 / dims[l]) * (l == 2 ? 0.1 : 1.0);
    for (Eigen::Index i = 0; i < w[l].size(); ++i) {
      const double u = static_cast<double>(splitmix(s) >> 11) * 0x1.0p-53;
      w[l].data()[i] = (2 * u - 1) * bound;
    }
  }
}

Mat Mlp::forward(const Mat& x) const {
  Mat h1 = ((w[0] * x).colwise() + b[0]).cwiseMax(0.0);
  Mat h2 = ((w[1] * h1).colwise() + b[1]).cwiseMax(0.0);
  return (w[2] * h2).colwise() + b[2];
}

MlpGrads Mlp::backward(const Mat& x, const Mat& dy) const {
  const Mat z1 = (w[0] * x).colwise() + b[0];
  const Mat h1 = z1.cwiseMax(0.0);
  const Mat z2 = (w[1] * h1).colwise() + b[1];
  const Mat h2 = z2.cwiseMax(0.0);
  MlpGrads g;
  g.w[2] = dy * h2.transpose();
  g.b[2] = dy.rowwise().sum();
  Mat d2 = (w[2].transpose() * dy).cwiseProduct((z2.array() > 0).cast<double>().matrix());
  g.w[1] = d2 * h1.transpose();
  g.b[1] = d2.rowwise().sum();
  Mat d1 = (w[1].transpose() * d2).cwiseProduct((z1.array() > 0).cast<double>().matrix());
  g.w[0] = d1 * x.transpose();
  g.b[0] = d1.rowwise().sum();
  return g;
}

Adam::Adam(const Mlp& shape, double lr_, double beta1, double beta2, double eps)
    : lr(lr_), b1_(beta1), b2_(beta2), eps_(eps) {
  for (int l = 0; l < 3; ++l) {
    m_.w[l] = v_.w[l] = Mat::Zero(shape.w[l].rows(), shape.w[l].cols());
    m_.b[l] = v_.b[l] = Vec::Zero(shape.b[l].size());
  }
}

void Adam::step(Mlp& net, const MlpGrads& g) {
  ++t_;
  const double c1 = 1 - std::pow(b1_, static_cast<double>(t_));
  const double c2 = 1 - std::pow(b2_, static_cast<double>(t_));
  auto upd = [&](auto& p, const auto& gr, auto& m, auto& v) {
    m = b1_ * m + (1 - b1_) * gr;
    v = b2_ * v + (1 - b2_) * gr.cwiseProduct(gr);
    p.array() -= lr * (m.array() / c1) / ((v.array() / c2).sqrt() + eps_);
  };
  for (int l = 0; l < 3; ++l) {
    upd(net.w[l], g.w[l], m_.w[l], v_.w[l]);
    upd(net.b[l], g.b[l], m_.b[l], v_.b[l]);
  }
}

}  // namespace tandem::router
