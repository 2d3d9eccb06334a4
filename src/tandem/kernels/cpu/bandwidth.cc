#include "tandem/kernels/cpu/bandwidth.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "tandem/base/big_buffer.h"
#include "tandem/base/error.h"
#include "tandem/base/timer.h"
#include "tandem/kernels/cpu/isa.h"
#include "tandem/kernels/cpu/prefetch.h"

namespace tandem::kernels {
namespace {

constexpr size_t kPrefetchFloats = 1024;  // 4 KiB ahead, as the decode kernels

__attribute__((target("avx2"))) float read_pass_avx2(const float* p, size_t n, bool prefetch) {
  __m256 a = _mm256_setzero_ps(), b = a, c = a, d = a;
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    if (prefetch) {
      prefetch_l1(p + i + kPrefetchFloats);
      prefetch_l1(p + i + kPrefetchFloats + 16);
    }
    a = _mm256_add_ps(a, _mm256_loadu_ps(p + i));
    b = _mm256_add_ps(b, _mm256_loadu_ps(p + i + 8));
    c = _mm256_add_ps(c, _mm256_loadu_ps(p + i + 16));
    d = _mm256_add_ps(d, _mm256_loadu_ps(p + i + 24));
  }
  alignas(32) float o[8];
  _mm256_store_ps(o, _mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)));
  float s = 0;
  for (float v : o) s += v;
  for (; i < n; ++i) s += p[i];
  return s;
}

float read_pass_sse(const float* p, size_t n, bool prefetch) {
  __m128 a = _mm_setzero_ps(), b = a, c = a, d = a;
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    if (prefetch) prefetch_l1(p + i + kPrefetchFloats);
    a = _mm_add_ps(a, _mm_loadu_ps(p + i));
    b = _mm_add_ps(b, _mm_loadu_ps(p + i + 4));
    c = _mm_add_ps(c, _mm_loadu_ps(p + i + 8));
    d = _mm_add_ps(d, _mm_loadu_ps(p + i + 12));
  }
  alignas(16) float o[4];
  _mm_store_ps(o, _mm_add_ps(_mm_add_ps(a, b), _mm_add_ps(c, d)));
  float s = o[0] + o[1] + o[2] + o[3];
  for (; i < n; ++i) s += p[i];
  return s;
}

}  // namespace

float read_pass(const float* p, size_t n, bool prefetch) {
  return best_isa() >= Isa::kAvx2 ? read_pass_avx2(p, n, prefetch) : read_pass_sse(p, n, prefetch);
}

double measure_read_bandwidth(ThreadPool& pool, size_t bytes) {
  // Backed like the repacked weights (huge pages when enabled), so the probe
  // reads memory the way the decode kernels do.
  BigBuffer buf = BigBuffer::allocate(bytes);
  return measure_read_bandwidth(pool, std::span<unsigned char>(buf.data(), buf.size()));
}

double measure_read_bandwidth(ThreadPool& pool, std::span<unsigned char> buffer) {
  const size_t nt = static_cast<size_t>(pool.size());
  const size_t per = buffer.size() / nt / 4096 * 4096;  // bytes per thread
  if (per == 0)
    fail("measure_read_bandwidth: {} bytes is too small for {} threads", buffer.size(), nt);
  float* base = reinterpret_cast<float*>(buffer.data());
  const size_t n = per / sizeof(float);
  pool.run([&](int i, int) { std::memset(base + i * n, 1, per); });
  std::atomic<float> sink{0};
  double best = 0;
  for (int pass = 0; pass < 7; ++pass) {
    Timer timer;
    pool.run([&](int i, int) {
      const float s = read_pass(base + i * n, n, pass % 2 == 0);
      sink.store(s, std::memory_order_relaxed);
    });
    const double sec = timer.seconds();
    if (pass > 0) best = std::max(best, double(per * nt) / sec);  // pass 0 warms up
  }
  return best;
}

}  // namespace tandem::kernels
