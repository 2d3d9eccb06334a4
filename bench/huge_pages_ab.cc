// Huge pages vs 4 KiB pages for decode streaming, as an A/B in one process:
// the same weight matrices (48 of 8192 x 2048, in the layout the model loader
// keeps: packed Q8_0/Q4_0, row-major F16) are held twice, once in memory advised
// MADV_HUGEPAGE and once advised MADV_NOHUGEPAGE; every round probes the read
// bandwidth in both kinds of memory, then runs three one-token passes over each
// copy, in alternating order. Reported per type: each copy's streaming rate as
// a share of each probe, averaged over the rounds.
//
//   huge_pages_ab [-t THREADS] [-r ROUNDS] [--types Q8_0,Q4_0,F16] [--json PATH]
//
// Needs transparent huge pages set to "madvise" or "always"; the JSON records
// the setting, the command line and /proc/loadavg.
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "tandem/base/thread_pool.h"
#include "tandem/base/timer.h"
#include "tandem/kernels/cpu/bandwidth.h"
#include "tandem/kernels/cpu/matmul.h"
#include "tandem/kernels/cpu/packed.h"
#include "tandem/tensor/quantize.h"

namespace {

using namespace tandem;

constexpr size_t kTwoMiB = size_t{2} << 20;

// An anonymous mapping of `bytes`, 2 MiB aligned, advised huge or not huge.
struct Region {
  void* map = nullptr;
  size_t len = 0;
  unsigned char* data = nullptr;
  Region(size_t bytes, bool huge) {
    len = (bytes + kTwoMiB - 1) / kTwoMiB * kTwoMiB + kTwoMiB;
    map = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) throw std::runtime_error("mmap failed");
    data = reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(map) + kTwoMiB - 1) /
                                            kTwoMiB * kTwoMiB);
    madvise(data, len - kTwoMiB, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  }
  ~Region() { munmap(map, len); }
};

// Best of 6 read passes over 512 MiB of `r` (as kernels::measure_read_bandwidth).
double probe(ThreadPool& pool, const Region& r, size_t bytes) {
  const size_t nt = pool.size(), per = bytes / nt, n = per / sizeof(float);
  float* base = reinterpret_cast<float*>(r.data);
  pool.run([&](int i, int) { std::memset(base + i * n, 1, per); });
  std::atomic<float> sink{0};
  double best = 0;
  for (int pass = 0; pass < 7; ++pass) {
    Timer t;
    pool.run([&](int i, int) { sink.store(kernels::read_pass(base + i * n, n, pass % 2 == 0)); });
    if (pass > 0) best = std::max(best, double(per * nt) / t.seconds());
  }
  return best;
}

DType parse_type(const std::string& s) {
  for (DType t : {DType::F16, DType::Q8_0, DType::Q4_0, DType::BF16, DType::F32})
    if (s == dtype_name(t)) return t;
  throw std::runtime_error("unknown type " + s);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, rounds = 10;
  std::string types = "Q8_0,Q4_0,F16", json_path;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "-t")
      threads = std::atoi(v.c_str());
    else if (a == "-r")
      rounds = std::max(1, std::atoi(v.c_str()));
    else if (a == "--types")
      types = v;
    else if (a == "--json")
      json_path = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  std::string cmd;
  for (int i = 0; i < argc; ++i) cmd += (i ? " " : "") + std::string(argv[i]);
  std::string thp;
  std::getline(std::ifstream("/sys/kernel/mm/transparent_hugepage/enabled"), thp);
  ThreadPool pool(threads);
  constexpr int64_t kRows = 8192, kCols = 2048;
  constexpr int kMatrices = 48, kPasses = 3;
  constexpr size_t kProbeBytes = size_t{512} << 20;
  const Region probe_huge(kProbeBytes, true), probe_4k(kProbeBytes, false);
  nlohmann::json results = nlohmann::json::array();
  for (const std::string& name : bench::split(types)) {
    const DType t = parse_type(name);
    std::mt19937 rng(1);
    std::normal_distribution<float> nd;
    const int64_t rb = row_bytes(t, kCols);
    std::vector<unsigned char> src(kRows * rb);
    std::vector<float> row(kCols);
    for (int64_t r = 0; r < kRows; ++r) {
      for (float& v : row) v = nd(rng) * 0.05f;
      quantize_row(t, row.data(), src.data() + r * rb, kCols);
    }
    const kernels::MatView file_view{t, src.data(), kRows, kCols};
    std::optional<kernels::PackedMatrix> p = kernels::pack_for_loading(file_view);
    const kernels::MatView view = p ? p->view : file_view;
    const size_t bytes = p ? p->bytes.size() : src.size();
    std::vector<kernels::MatView> copies[2];  // [0] 4 KiB pages, [1] huge pages
    const Region mem[2] = {Region(bytes * kMatrices, false), Region(bytes * kMatrices, true)};
    for (int h = 0; h < 2; ++h)
      for (int i = 0; i < kMatrices; ++i) {
        std::memcpy(mem[h].data + i * bytes, view.data, bytes);
        kernels::MatView w = view;
        w.data = mem[h].data + i * bytes;
        copies[h].push_back(w);
      }
    std::vector<float> x(kCols), out(kRows);
    for (float& v : x) v = nd(rng);
    double share[2][2] = {};  // [copy][probe]
    double probes[2] = {}, rates[2] = {};
    for (int round = 0; round < rounds; ++round) {
      const double bw[2] = {probe(pool, probe_4k, kProbeBytes),
                            probe(pool, probe_huge, kProbeBytes)};
      for (int k = 0; k < 2; ++k) {
        const int h = (round + k) % 2;
        Timer timer;
        for (int pass = 0; pass < kPasses; ++pass)
          for (int i = 0; i < kMatrices; ++i) {
            std::span<const kernels::MatView> next;
            if (i + 1 < kMatrices) next = {&copies[h][i + 1], 1};
            kernels::matmul(copies[h][i], x.data(), 1, out.data(), pool, next);
          }
        const double rate = double(kPasses) * kMatrices * bytes / timer.seconds();
        rates[h] += rate / rounds;
        for (int q = 0; q < 2; ++q) share[h][q] += rate / bw[q] / rounds;
      }
      for (int q = 0; q < 2; ++q) probes[q] += bw[q] / rounds;
      std::fprintf(stderr, "\r%s round %d/%d", name.c_str(), round + 1, rounds);
    }
    std::fprintf(stderr, "\n");
    std::printf(
        "%-5s probe GB/s 4k %.1f huge %.1f | stream GB/s 4k %.1f huge %.1f | share of huge probe: "
        "4k %.3f huge %.3f | of 4k probe: 4k %.3f huge %.3f\n",
        name.c_str(), probes[0] / 1e9, probes[1] / 1e9, rates[0] / 1e9, rates[1] / 1e9, share[0][1],
        share[1][1], share[0][0], share[1][0]);
    results.push_back({{"type", name},
                       {"layout", p ? "packed" : "rows"},
                       {"probe_4k_bytes_per_s", probes[0]},
                       {"probe_huge_bytes_per_s", probes[1]},
                       {"stream_4k_bytes_per_s", rates[0]},
                       {"stream_huge_bytes_per_s", rates[1]},
                       {"share_4k_of_huge_probe", share[0][1]},
                       {"share_huge_of_huge_probe", share[1][1]},
                       {"share_4k_of_4k_probe", share[0][0]},
                       {"share_huge_of_4k_probe", share[1][0]}});
  }
  if (!json_path.empty()) {
    nlohmann::json j = {{"command", cmd},
                        {"threads", threads},
                        {"rounds", rounds},
                        {"transparent_hugepage", thp},
                        {"loadavg", bench::loadavg()},
                        {"results", results}};
    std::ofstream(json_path) << j.dump(2) << "\n";
  }
}
