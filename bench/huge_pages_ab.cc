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
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "tandem/base/big_buffer.h"
#include "tandem/base/thread_pool.h"
#include "tandem/base/timer.h"
#include "tandem/kernels/cpu/bandwidth.h"
#include "tandem/kernels/cpu/matmul.h"
#include "tandem/kernels/cpu/packed.h"
#include "tandem/tensor/dtype.h"
#include "tandem/tensor/quantize.h"

namespace {

using namespace tandem;

using Pages = BigBuffer::Pages;

std::span<unsigned char> span_of(BigBuffer& b) {
  return {b.data(), b.size()};
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
  BigBuffer probe_mem[2] = {BigBuffer::allocate(kProbeBytes, Pages::kSmall),
                            BigBuffer::allocate(kProbeBytes, Pages::kHuge)};
  nlohmann::json results = nlohmann::json::array();
  for (const std::string& name : bench::split(types)) {
    const std::optional<DType> type = dtype_from_name(name);
    if (!type) {
      std::fprintf(stderr, "unknown type %s\n", name.c_str());
      return 2;
    }
    const DType t = *type;
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
    const BigBuffer mem[2] = {BigBuffer::allocate(bytes * kMatrices, Pages::kSmall),
                              BigBuffer::allocate(bytes * kMatrices, Pages::kHuge)};
    for (int h = 0; h < 2; ++h)
      for (int i = 0; i < kMatrices; ++i) {
        std::memcpy(mem[h].data() + i * bytes, view.data, bytes);
        kernels::MatView w = view;
        w.data = mem[h].data() + i * bytes;
        copies[h].push_back(w);
      }
    std::vector<float> x(kCols), out(kRows);
    for (float& v : x) v = nd(rng);
    double share[2][2] = {};  // [copy][probe]
    double probes[2] = {}, rates[2] = {};
    for (int round = 0; round < rounds; ++round) {
      const double bw[2] = {kernels::measure_read_bandwidth(pool, span_of(probe_mem[0])),
                            kernels::measure_read_bandwidth(pool, span_of(probe_mem[1]))};
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
