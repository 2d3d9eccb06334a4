// Mlp — the router's Q-network: input -> ReLU(h1) -> ReLU(h2) -> linear output,
// in Eigen (double precision: the nets are tiny and finite-difference checks
// stay meaningful), with backpropagation and an Adam optimiser of our own.
// Columns are samples: X is (in, batch), the output (out, batch).
// Ownership: plain value type (copyable: the target network is a copy).
// Thread safety: forward() is const and re-entrant; backward()/Adam mutate.
#pragma once

#include <Eigen/Dense>
#include <array>
#include <cstdint>
#include <vector>

namespace tandem::router {

using Mat = Eigen::MatrixXd;
using Vec = Eigen::VectorXd;

struct MlpGrads {
  std::array<Mat, 3> w;
  std::array<Vec, 3> b;
};

class Mlp {
 public:
  Mlp() = default;
  // He-uniform initialisation from `seed` (our own splitmix64 stream).
  Mlp(int in, int h1, int h2, int out, uint64_t seed);

  int in() const { return static_cast<int>(w[0].cols()); }
  int out() const { return static_cast<int>(w[2].rows()); }
  std::array<int, 4> sizes() const {
    return {static_cast<int>(w[0].cols()), static_cast<int>(w[0].rows()),
            static_cast<int>(w[1].rows()), static_cast<int>(w[2].rows())};
  }

  Mat forward(const Mat& x) const;
  // Forward + backward: gradients of sum(dY .* Y) w.r.t. the parameters, for
  // the loss gradient dY = dL/dY (out, batch).
  MlpGrads backward(const Mat& x, const Mat& dy) const;

  // (3 layers) w[l]: (out_l, in_l), b[l]: (out_l)
  std::array<Mat, 3> w;
  std::array<Vec, 3> b;
};

class Adam {
 public:
  explicit Adam(const Mlp& shape, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
                double eps = 1e-8);
  void step(Mlp& net, const MlpGrads& g);
  double lr;

 private:
  double b1_, b2_, eps_;
  int64_t t_ = 0;
  MlpGrads m_, v_;
};

}  // namespace tandem::router
