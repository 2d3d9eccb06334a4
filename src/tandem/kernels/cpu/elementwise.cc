#include "tandem/kernels/cpu/elementwise.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "tandem/base/error.h"
#include "tandem/kernels/cpu/isa.h"

namespace tandem::kernels {

namespace ref {

void rmsnorm(const float* x, const float* weight, float* out, int64_t n, float eps) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += double(x[i]) * x[i];
  const float inv = static_cast<float>(1.0 / std::sqrt(ss / double(n) + eps));
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * inv * weight[i];
}

void softmax(float* x, int64_t n) {
  if (n <= 0) return;
  const float m = *std::max_element(x, x + n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - m);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void swiglu(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.f + std::exp(-gate[i])) * up[i];
}

float dot_f32(const float* a, const float* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(a[i]) * b[i];
  return static_cast<float>(s);
}

void axpy(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void add(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

}  // namespace ref

namespace {
const detail::ElementwiseTable& table() {
  static const detail::ElementwiseTable scalar{ref::rmsnorm, ref::softmax, ref::swiglu,
                                               ref::dot_f32, ref::axpy,    ref::add};
  // AVX-512 adds nothing measurable for these memory-light operators: it uses AVX2.
  return active_isa() == Isa::kScalar ? scalar : detail::avx2_elementwise_table();
}
}  // namespace

void rmsnorm(const float* x, const float* weight, float* out, int64_t n, float eps) {
  table().rmsnorm(x, weight, out, n, eps);
}
void softmax(float* x, int64_t n) {
  table().softmax(x, n);
}
void swiglu(const float* gate, const float* up, float* out, int64_t n) {
  table().swiglu(gate, up, out, n);
}
float dot_f32(const float* a, const float* b, int64_t n) {
  return table().dot_f32(a, b, n);
}
void axpy(float a, const float* x, float* y, int64_t n) {
  table().axpy(a, x, y, n);
}
void add(const float* a, const float* b, float* out, int64_t n) {
  table().add(a, b, out, n);
}

void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t pos, float freq_base,
          float freq_scale, bool neox) {
  if (head_dim <= 0 || head_dim % 2 != 0)
    fail("rope: head_dim {} must be positive and even", head_dim);
  const int64_t half = head_dim / 2;
  // cos/sin depend only on the pair index: computed once, applied to every head.
  thread_local std::vector<float> cs;
  if (static_cast<int64_t>(cs.size()) < 2 * half) cs.resize(2 * half);
  for (int64_t i = 0; i < half; ++i) {
    const double theta =
        double(pos) * freq_scale * std::pow(double(freq_base), -2.0 * double(i) / double(head_dim));
    cs[2 * i] = static_cast<float>(std::cos(theta));
    cs[2 * i + 1] = static_cast<float>(std::sin(theta));
  }
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    for (int64_t i = 0; i < half; ++i) {
      float* p0 = neox ? &v[i] : &v[2 * i];
      float* p1 = neox ? &v[i + half] : &v[2 * i + 1];
      const float a = *p0, b = *p1, c = cs[2 * i], s = cs[2 * i + 1];
      *p0 = a * c - b * s;
      *p1 = a * s + b * c;
    }
  }
}

}  // namespace tandem::kernels
