// Element-wise and small vector operators of the forward pass (f32).
//
// Contract: pointers are caller-owned arrays of n floats (rope: n_heads *
// head_dim); in/out may alias exactly (out == x) but not partially overlap.
// The active ISA (isa.h) picks the implementation; each has a scalar reference
// in namespace `ref` used by tests. SIMD versions use their own exp() (max
// relative error ~2e-7 over the range used) and a different summation order.
//   rmsnorm:  out = x / sqrt(mean(x^2) + eps) * weight
//   rope:     theta_i = pos * freq_scale * freq_base^(-2i / head_dim), i < head_dim/2;
//             normal (GGUF llama) rotates (x[2i], x[2i+1]); neox (qwen2) (x[i], x[i + head_dim/2])
//   softmax:  in place, max-subtracted (no overflow for large inputs)
//   swiglu:   out = silu(gate) * up, silu(g) = g / (1 + exp(-g))
//   attend:   one query head against n cached positions (row s of keys/values at
//             k + s * stride, v + s * stride): scores_s = scale * q . k_s, softmax
//             over s, out = sum_s p_s v_s. scores is caller scratch of n floats
//             (left holding the probabilities); out holds head_dim floats. n >= 1.
// Thread safety: pure functions over the arguments.
#pragma once

#include <cstdint>

namespace tandem::kernels {

void rmsnorm(const float* x, const float* weight, float* out, int64_t n, float eps);
void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t pos, float freq_base,
          float freq_scale, bool neox);
void softmax(float* x, int64_t n);
void swiglu(const float* gate, const float* up, float* out, int64_t n);
void attend(const float* q, const float* k, const float* v, int64_t n, int64_t stride,
            int64_t head_dim, float scale, float* scores, float* out);
void add(const float* a, const float* b, float* out, int64_t n);

namespace ref {
void rmsnorm(const float* x, const float* weight, float* out, int64_t n, float eps);
void softmax(float* x, int64_t n);
void swiglu(const float* gate, const float* up, float* out, int64_t n);
void attend(const float* q, const float* k, const float* v, int64_t n, int64_t stride,
            int64_t head_dim, float scale, float* scores, float* out);
void add(const float* a, const float* b, float* out, int64_t n);
}  // namespace ref

namespace detail {
struct ElementwiseTable {
  void (*rmsnorm)(const float*, const float*, float*, int64_t, float);
  void (*softmax)(float*, int64_t);
  void (*swiglu)(const float*, const float*, float*, int64_t);
  void (*attend)(const float*, const float*, const float*, int64_t, int64_t, int64_t, float, float*,
                 float*);
  void (*add)(const float*, const float*, float*, int64_t);
};
const ElementwiseTable& avx2_elementwise_table();
}  // namespace detail

}  // namespace tandem::kernels
