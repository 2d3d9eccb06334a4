// Kernel benchmarks at Llama-3.2-1B shapes, 2 threads (override: TANDEM_BENCH_THREADS).
//
//   BM_ReadBandwidth        sums a 1 GiB buffer with the pool: the DRAM roofline.
//   BM_Matvec/<type>/R/C    n_tokens = 1. Cycles through enough weight copies
//                           (>= 256 MiB) that every call streams from DRAM, not
//                           the 32 MiB L3. Counters: bytes_per_second = weight
//                           bytes/s; bw_ratio = that / measured read bandwidth.
//   BM_MatvecL2/<type>      n_tokens = 1 on a matrix that stays in L2: the
//                           kernel's compute ceiling (bytes/s it could consume).
//   BM_Matmul/<type>/R/C/T  n_tokens = T (prompt). tok_per_s counter; compare
//                           with BM_Matvec's tok_per_s for the prompt/decode ratio.
// ISA: TANDEM_ISA=scalar|avx2|avx512 (default: best available).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "tandem/kernels/cpu/bandwidth.h"
#include "tandem/kernels/cpu/isa.h"
#include "tandem/kernels/cpu/matmul.h"
#include "tandem/tensor/quantize.h"

namespace {

using tandem::DType;
using tandem::ThreadPool;
namespace k = tandem::kernels;

int bench_threads() {
  const char* e = std::getenv("TANDEM_BENCH_THREADS");
  return e ? std::atoi(e) : 2;
}

ThreadPool& pool() {
  static ThreadPool p(bench_threads());
  return p;
}

double& bandwidth() {
  static double bw = 0;
  return bw;
}

struct Buffer {
  std::unique_ptr<unsigned char, decltype(&std::free)> p{nullptr, &std::free};
  size_t bytes = 0;
};

Buffer alloc(size_t bytes) {
  Buffer b;
  b.bytes = bytes;
  b.p.reset(static_cast<unsigned char*>(std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096)));
  return b;
}

void BM_ReadBandwidth(benchmark::State& state) {
  const size_t bytes = size_t{1} << 30;
  Buffer buf = alloc(bytes);
  std::memset(buf.p.get(), 1, bytes);
  const float* f = reinterpret_cast<const float*>(buf.p.get());
  const size_t n = bytes / sizeof(float);
  for (auto _ : state) {
    pool().run([&](int i, int nt) {
      const size_t per = n / nt;
      benchmark::DoNotOptimize(k::read_pass(f + i * per, per));
    });
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(bytes));
}

// `copies` matrices of the same (random) content laid out back to back.
struct Weights {
  Buffer buf;
  int64_t mat_bytes = 0;
  int copies = 1;
};

Weights make_weights(DType t, int64_t rows, int64_t cols, size_t min_total) {
  Weights w;
  w.mat_bytes = rows * tandem::row_bytes(t, cols);
  w.copies = static_cast<int>(std::max<size_t>(1, (min_total + w.mat_bytes - 1) / w.mat_bytes));
  w.buf = alloc(size_t(w.mat_bytes) * w.copies);
  // Quantise 16 random rows and tile them: contents do not affect speed.
  std::mt19937 rng(1);
  std::normal_distribution<float> nd;
  std::vector<float> src(cols);
  const int64_t rb = tandem::row_bytes(t, cols);
  std::vector<unsigned char> pattern(16 * rb);
  for (int r = 0; r < 16; ++r) {
    for (float& v : src) v = nd(rng);
    tandem::quantize_row(t, src.data(), pattern.data() + r * rb, cols);
  }
  for (int64_t r = 0; r < rows * w.copies; ++r)
    std::memcpy(w.buf.p.get() + r * rb, pattern.data() + (r % 16) * rb, rb);
  return w;
}

void run_matmul(benchmark::State& state, DType t, int64_t rows, int64_t cols, int64_t n_tokens,
                bool from_cache = false) {
  const size_t min_total = n_tokens == 1 && !from_cache ? size_t{256} << 20 : 0;
  Weights w = make_weights(t, rows, cols, min_total);
  std::vector<float> x(n_tokens * cols, 0.5f), out(n_tokens * rows);
  std::mt19937 rng(2);
  std::normal_distribution<float> nd;
  for (float& v : x) v = nd(rng);
  int c = 0;
  for (auto _ : state) {
    const k::MatView v{t, w.buf.p.get() + size_t(c) * w.mat_bytes, rows, cols};
    k::matmul(v, x.data(), n_tokens, out.data(), pool());
    benchmark::DoNotOptimize(out.data());
    c = (c + 1) % w.copies;
  }
  const double iters = double(state.iterations());
  state.SetBytesProcessed(int64_t(iters * w.mat_bytes));
  state.counters["tok_per_s"] = benchmark::Counter(iters * n_tokens, benchmark::Counter::kIsRate);
  if (n_tokens == 1 && bandwidth() > 0)
    state.counters["bw_ratio"] =
        benchmark::Counter(iters * w.mat_bytes / bandwidth(), benchmark::Counter::kIsRate);
  state.SetLabel(std::string(k::isa_name(k::active_isa())));
}

const DType kTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0,
                        DType::Q4_0, DType::Q4_K, DType::Q6_K};
const int64_t kShapes[][2] = {
    {2048, 2048}, {512, 2048}, {8192, 2048}, {2048, 8192}, {128256, 2048}};

void register_all() {
  benchmark::RegisterBenchmark("BM_ReadBandwidth", BM_ReadBandwidth)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond)
      ->MinTime(1.0);
  for (DType t : kTypes) {
    const std::string name(tandem::dtype_name(t));
    // Decode from L2 (256 rows): the kernel's compute ceiling, to compare with DRAM.
    benchmark::RegisterBenchmark(
        ("BM_MatvecL2/" + name + "/256x2048").c_str(),
        [=](benchmark::State& st) { run_matmul(st, t, 256, 2048, 1, true); })
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
    for (const auto& s : kShapes) {
      const int64_t rows = s[0], cols = s[1];
      if (t == DType::F32 && rows == 128256) continue;  // 1 GiB per copy
      benchmark::RegisterBenchmark(
          ("BM_Matvec/" + name + "/" + std::to_string(rows) + "x" + std::to_string(cols)).c_str(),
          [=](benchmark::State& st) { run_matmul(st, t, rows, cols, 1); })
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
      if (rows == 128256 || rows == 512) continue;  // prompt: the three layer shapes
      benchmark::RegisterBenchmark(
          ("BM_Matmul/" + name + "/" + std::to_string(rows) + "x" + std::to_string(cols) + "/128")
              .c_str(),
          [=](benchmark::State& st) { run_matmul(st, t, rows, cols, 128); })
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  bandwidth() = k::measure_read_bandwidth(pool());
  std::printf("measured read bandwidth (%d threads): %.2f GB/s, ISA %s\n", pool().size(),
              bandwidth() / 1e9, std::string(k::isa_name(k::active_isa())).c_str());
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
