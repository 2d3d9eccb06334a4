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

void attend(const float* q, const float* k, const float* v, int64_t n, int64_t stride,
            int64_t head_dim, float scale, float* scores, float* out) {
  for (int64_t s = 0; s < n; ++s) {
    double dot = 0;
    for (int64_t i = 0; i < head_dim; ++i) dot += double(q[i]) * k[s * stride + i];
    scores[s] = static_cast<float>(dot) * scale;
  }
  softmax(scores, n);
  for (int64_t i = 0; i < head_dim; ++i) {
    double o = 0;
    for (int64_t s = 0; s < n; ++s) o += double(scores[s]) * v[s * stride + i];
    out[i] = static_cast<float>(o);
  }
}

void add(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

}  // namespace ref

namespace {
const detail::ElementwiseTable& table() {
  static const detail::ElementwiseTable scalar{ref::rmsnorm, ref::softmax, ref::swiglu, ref::attend,
                                               ref::add};
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
void attend(const float* q, const float* k, const float* v, int64_t n, int64_t stride,
            int64_t head_dim, float scale, float* scores, float* out) {
  table().attend(q, k, v, n, stride, head_dim, scale, scores, out);
}
void add(const float* a, const float* b, float* out, int64_t n) {
  table().add(a, b, out, n);
}

void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t pos, float freq_base,
          float freq_scale, bool neox) {
  if (head_dim <= 0 || head_dim % 2 != 0)
    fail("rope: head_dim {} must be positive and even", head_dim);
  const int64_t half = head_dim / 2;
  // cos/sin depend only on the pair index and the position: computed once per
  // position (queries and keys of a token share them), applied to every head.
  struct Angles {
    int64_t pos = -1, head_dim = 0;
    float base = 0, scale = 0;
    std::vector<double> inv_freq;  // freq_base^(-2i / head_dim)
    std::vector<float> cs;         // cos, sin of pair i at pos
  };
  thread_local Angles a;
  if (a.head_dim != head_dim || a.base != freq_base) {
    a.inv_freq.resize(half);
    for (int64_t i = 0; i < half; ++i)
      a.inv_freq[i] = std::pow(double(freq_base), -2.0 * double(i) / double(head_dim));
    a.cs.resize(2 * half);
    a.head_dim = head_dim, a.base = freq_base, a.pos = -1;
  }
  if (a.pos != pos || a.scale != freq_scale) {
    for (int64_t i = 0; i < half; ++i) {
      const double theta = double(pos) * freq_scale * a.inv_freq[i];
      a.cs[2 * i] = static_cast<float>(std::cos(theta));
      a.cs[2 * i + 1] = static_cast<float>(std::sin(theta));
    }
    a.pos = pos, a.scale = freq_scale;
  }
  const std::vector<float>& cs = a.cs;
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
