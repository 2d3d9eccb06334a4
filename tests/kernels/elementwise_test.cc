// Element-wise operators against direct formulas / the scalar references, per ISA.
// Tolerances: SIMD exp has ~2e-7 relative error and sums differ in order, so
// outputs agree to 1e-5 relative (+1e-7 absolute).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "tandem/kernels/cpu/elementwise.h"
#include "tandem/kernels/cpu/isa.h"

namespace tandem::kernels {
namespace {

class ElementwiseIsa : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!isa_supported(GetParam())) GTEST_SKIP() << "CPU lacks " << isa_name(GetParam());
    saved_ = active_isa();
    set_isa(GetParam());
  }
  void TearDown() override {
    if (isa_supported(GetParam())) set_isa(saved_);
  }
  Isa saved_ = Isa::kScalar;
};

std::vector<float> randn(int64_t n, float scale, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  std::vector<float> v(n);
  for (float& f : v) f = nd(rng) * scale;
  return v;
}

void expect_close(const std::vector<float>& a, const std::vector<float>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    ASSERT_NEAR(a[i], b[i], 1e-5 * std::fabs(b[i]) + 1e-7) << "at " << i;
}

TEST_P(ElementwiseIsa, VectorOpsMatchReference) {
  for (int64_t n : {1, 7, 8, 33, 1000, 4099}) {
    const auto a = randn(n, 1.f, 1), b = randn(n, 1.f, 2), w = randn(n, 1.f, 3);
    std::vector<float> o1(n), o2(n);
    rmsnorm(a.data(), w.data(), o1.data(), n, 1e-5f);
    ref::rmsnorm(a.data(), w.data(), o2.data(), n, 1e-5f);
    expect_close(o1, o2);
    swiglu(a.data(), b.data(), o1.data(), n);
    for (int64_t i = 0; i < n; ++i)
      o2[i] = static_cast<float>(a[i] / (1 + std::exp(-double(a[i]))) * b[i]);
    expect_close(o1, o2);
    add(a.data(), b.data(), o1.data(), n);
    ref::add(a.data(), b.data(), o2.data(), n);
    expect_close(o1, o2);
  }
}

// attend against the formula in double: every head size class (below one vector,
// odd multiples of 8, the 64-wide chunk and its tails), 1..300 positions (the
// four-position blocks and their remainders), rows strided as in a GQA cache.
TEST_P(ElementwiseIsa, AttendMatchesFormula) {
  for (int64_t hd : {2, 6, 8, 24, 64, 72, 128, 130}) {
    for (int64_t n : {1, 3, 4, 5, 17, 300}) {
      const int64_t stride = 3 * hd + 2;
      const auto q = randn(hd, 1.f, 11), k = randn(n * stride, 1.f, 12),
                 v = randn(n * stride, 1.f, 13);
      const float scale = 1.f / std::sqrt(float(hd));
      std::vector<float> scores(n), out(hd, -1.f);
      attend(q.data(), k.data() + 1, v.data() + 1, n, stride, hd, scale, scores.data(), out.data());
      std::vector<double> p(n);
      double m = -INFINITY, sum = 0;
      for (int64_t s = 0; s < n; ++s) {
        double d = 0;
        for (int64_t i = 0; i < hd; ++i) d += double(q[i]) * k[1 + s * stride + i];
        m = std::max(m, p[s] = d * scale);
      }
      for (double& x : p) sum += x = std::exp(x - m);
      for (int64_t s = 0; s < n; ++s) ASSERT_NEAR(scores[s], p[s] / sum, 1e-5) << hd << " " << n;
      for (int64_t i = 0; i < hd; ++i) {
        double o = 0, mag = 0;
        for (int64_t s = 0; s < n; ++s) {
          o += p[s] / sum * v[1 + s * stride + i];
          mag += p[s] / sum * std::fabs(v[1 + s * stride + i]);
        }
        ASSERT_NEAR(out[i], o, 1e-5 * mag + 1e-7) << "hd " << hd << " n " << n << " dim " << i;
      }
    }
  }
}

TEST_P(ElementwiseIsa, SoftmaxLargeInputsNoOverflow) {
  for (int64_t n : {1, 5, 64, 32000}) {
    auto x = randn(n, 30.f, 9);
    for (float& v : x) v += 1e4f;  // exp(1e4) would overflow without max subtraction
    std::vector<double> want(n);
    double m = -INFINITY, s = 0;
    for (float v : x) m = std::max(m, double(v));
    for (int64_t i = 0; i < n; ++i) s += want[i] = std::exp(double(x[i]) - m);
    softmax(x.data(), n);
    double total = 0;
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_TRUE(std::isfinite(x[i]));
      ASSERT_NEAR(x[i], want[i] / s, 1e-5 * want[i] / s + 1e-9);
      total += x[i];
    }
    EXPECT_NEAR(total, 1.0, 1e-5);
  }
}

// Also in a sequence that changes one parameter at a time: the cos/sin kept
// from the previous call must never be reused for another position, scale,
// base or head size.
TEST_P(ElementwiseIsa, RopeNormalAndNeoxMatchFormula) {
  const int64_t heads = 3;
  struct Case {
    int64_t hd, pos;
    float base, fscale;
  };
  for (const Case& k :
       {Case{64, 17, 10000.f, 0.5f}, Case{64, 17, 10000.f, 0.5f}, Case{64, 18, 10000.f, 0.5f},
        Case{64, 18, 10000.f, 1.f}, Case{64, 18, 500000.f, 1.f}, Case{32, 18, 500000.f, 1.f},
        Case{64, 70000, 1e6f, 0.25f}})
    for (bool neox : {false, true}) {
      const int64_t hd = k.hd, pos = k.pos;
      const float base = k.base, fscale = k.fscale;
      auto x = randn(heads * hd, 1.f, 5);
      const auto orig = x;
      rope(x.data(), heads, hd, pos, base, fscale, neox);
      for (int64_t h = 0; h < heads; ++h) {
        for (int64_t i = 0; i < hd / 2; ++i) {
          const double theta = pos * double(fscale) * std::pow(double(base), -2.0 * i / hd);
          const int64_t i0 = h * hd + (neox ? i : 2 * i),
                        i1 = h * hd + (neox ? i + hd / 2 : 2 * i + 1);
          const double a = orig[i0], b = orig[i1];
          ASSERT_NEAR(x[i0], a * std::cos(theta) - b * std::sin(theta), 1e-5) << pos;
          ASSERT_NEAR(x[i1], a * std::sin(theta) + b * std::cos(theta), 1e-5) << pos;
        }
      }
    }
  const int64_t hd = 64;
  const float base = 10000.f;
  // position 0 is the identity in both modes; the modes differ elsewhere
  auto x0 = randn(hd, 1.f, 6), x1 = x0;
  rope(x0.data(), 1, hd, 0, base, 1.f, false);
  EXPECT_EQ(x0, x1);
  auto n1 = randn(hd, 1.f, 6), n2 = n1;
  rope(n1.data(), 1, hd, 3, base, 1.f, false);
  rope(n2.data(), 1, hd, 3, base, 1.f, true);
  EXPECT_NE(n1, n2);
}

INSTANTIATE_TEST_SUITE_P(AllIsas, ElementwiseIsa,
                         ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512),
                         [](const auto& info) { return std::string(isa_name(info.param)); });

}  // namespace
}  // namespace tandem::kernels
