// Matmul throughput (GMAC/s) against the token count, per weight type, on the
// seven matrices of one Llama-3.2-1B layer (q 2048x2048, k/v 512x2048, o
// 2048x2048, gate/up 8192x2048, down 2048x8192: 62 MB in Q8_0, more than L3, so
// small token counts stream weights from memory as decode does).
//
//   matmul_gmacs [-t THREADS] [-r REPS] [-n 1,2,3,4,5,8,16,32,64]
//                [--types Q8_0,Q4_0,...] [--layers L] [--json PATH]
//
// One measurement = the seven matmul() calls of a layer (q/k/v and gate/up as
// matmul_multi, as the model runs them) for each of L distinct layers (L = 16:
// a whole 1B model's matrices bar the output head, more than any L3; matrices
// are packed as the model loader packs them); reported: MACs / median seconds,
// and with --layers, the memory bandwidth probed before and after each type and
// the one-token pass's share of it (the decode roofline of the matmuls alone,
// without the rest of the forward pass).
// Token counts are interleaved inside each repetition. The JSON records the
// command line.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "tandem/base/thread_pool.h"
#include "tandem/base/timer.h"
#include "tandem/kernels/cpu/bandwidth.h"
#include "tandem/kernels/cpu/isa.h"
#include "tandem/kernels/cpu/matmul.h"
#include "tandem/kernels/cpu/packed.h"
#include "tandem/tensor/quantize.h"

namespace {

using namespace tandem;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

struct Matrix {
  std::vector<unsigned char> bytes;
  kernels::PackedMatrix packed;  // when the model loader would pack this type
  kernels::MatView view;
};

Matrix make_matrix(DType t, int64_t rows, int64_t cols, std::mt19937& rng) {
  Matrix m;
  const int64_t rb = row_bytes(t, cols);
  m.bytes.resize(rows * rb);
  std::normal_distribution<float> nd;
  std::vector<float> src(cols);
  for (int64_t r = 0; r < rows; ++r) {  // 16 random rows, tiled: contents do not affect speed
    if (r < 16) {
      for (float& v : src) v = nd(rng) * 0.05f;
      quantize_row(t, src.data(), m.bytes.data() + r * rb, cols);
    } else {
      std::memcpy(m.bytes.data() + r * rb, m.bytes.data() + (r % 16) * rb, rb);
    }
  }
  m.view = {t, m.bytes.data(), rows, cols};
  if (std::optional<kernels::PackedMatrix> p = kernels::pack_for_loading(m.view)) {
    m.packed = std::move(*p);
    m.view = m.packed.view;
    std::vector<unsigned char>().swap(m.bytes);
  }
  return m;
}

struct Layer {
  Matrix q, k, v, o, g, u, d;
};

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, reps = 7, n_layers = 1;
  std::vector<int> ns = {1, 2, 3, 4, 5, 8, 16, 32, 64};
  std::vector<std::string> types = {"Q8_0", "Q4_0", "Q4_K", "Q6_K", "F16", "BF16", "F32"};
  std::string json_path, cmd;
  for (int i = 0; i < argc; ++i) cmd += (i ? " " : "") + std::string(argv[i]);
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "%s needs a value\n", a.c_str());
      return 2;
    }
    const std::string v = argv[++i];
    if (a == "-t")
      threads = std::atoi(v.c_str());
    else if (a == "-r")
      reps = std::atoi(v.c_str());
    else if (a == "-n") {
      ns.clear();
      for (const auto& s : bench::split(v)) ns.push_back(std::atoi(s.c_str()));
    } else if (a == "--types")
      types = bench::split(v);
    else if (a == "--layers")
      n_layers = std::max(1, std::atoi(v.c_str()));
    else if (a == "--json")
      json_path = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  ThreadPool pool(threads);
  const int max_n = *std::max_element(ns.begin(), ns.end());
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  std::vector<float> x2048(max_n * 2048), x8192(max_n * 8192);
  for (float& v : x2048) v = nd(rng);
  for (float& v : x8192) v = nd(rng);
  std::vector<float> o1(max_n * 8192), o2(max_n * 8192), o3(max_n * 8192);
  nlohmann::json all = nlohmann::json::array();
  for (const std::string& name : types) {
    DType t{};
    bool found = false;
    for (uint32_t id = 0; id < 64; ++id) {
      const DTypeInfo* info = dtype_info(id);
      if (info && name == info->name) t = static_cast<DType>(id), found = true;
    }
    if (!found) {
      std::fprintf(stderr, "unknown type %s\n", name.c_str());
      return 2;
    }
    std::vector<Layer> layers;
    for (int l = 0; l < n_layers; ++l)
      layers.push_back({make_matrix(t, 2048, 2048, rng), make_matrix(t, 512, 2048, rng),
                        make_matrix(t, 512, 2048, rng), make_matrix(t, 2048, 2048, rng),
                        make_matrix(t, 8192, 2048, rng), make_matrix(t, 8192, 2048, rng),
                        make_matrix(t, 2048, 8192, rng)});
    const double layer_macs = 2048.0 * (2048 + 512 + 512 + 2048 + 8192 + 8192 + 8192);
    // bytes of all matrices: one weight per MAC of a one-token pass
    const double pass_bytes =
        n_layers * layer_macs * double(row_bytes(t, 2048)) / 2048;  // bytes of all matrices
    const double bw_before = n_layers > 1 ? kernels::measure_read_bandwidth(pool) : 0;
    std::vector<std::vector<double>> secs(ns.size());
    for (int r = 0; r < reps + 1; ++r) {
      for (size_t i = 0; i < ns.size(); ++i) {
        const int n = ns[i];
        Timer tm;
        for (const Layer& L : layers) {
          const kernels::MatView qkv[3] = {L.q.view, L.k.view, L.v.view};
          float* const qkv_out[3] = {o1.data(), o2.data(), o3.data()};
          kernels::matmul_multi(qkv, x2048.data(), n, qkv_out, pool);
          kernels::matmul(L.o.view, x2048.data(), n, o1.data(), pool);
          const kernels::MatView gu[2] = {L.g.view, L.u.view};
          float* const gu_out[2] = {o1.data(), o2.data()};
          kernels::matmul_multi(gu, x2048.data(), n, gu_out, pool);
          kernels::matmul(L.d.view, x8192.data(), n, o3.data(), pool);
        }
        if (r > 0) secs[i].push_back(tm.seconds());
      }
    }
    const double bw = n_layers > 1 ? (bw_before + kernels::measure_read_bandwidth(pool)) / 2 : 0;
    layers.clear();
    nlohmann::json per = nlohmann::json::array();
    std::printf("%-5s", name.c_str());
    for (size_t i = 0; i < ns.size(); ++i) {
      const double med = median(secs[i]);
      const double gmacs = n_layers * layer_macs * ns[i] / med / 1e9;
      per.push_back({{"n_tokens", ns[i]}, {"median_s", med}, {"gmac_per_s", gmacs}});
      std::printf("  n=%d %.1f", ns[i], gmacs);
    }
    std::printf("  GMAC/s");
    nlohmann::json entry = {{"type", name}, {"results", per}};
    if (n_layers > 1) {
      const auto one = std::find(ns.begin(), ns.end(), 1);
      if (one != ns.end()) {
        const double read = pass_bytes / median(secs[one - ns.begin()]);
        std::printf("   n=1 reads %.1f GB/s = %.0f %% of %.1f GB/s probed", read / 1e9,
                    100 * read / bw, bw / 1e9);
        entry["decode_bytes_per_s"] = read;
        entry["decode_roofline_ratio"] = read / bw;
      }
      entry["bandwidth_bytes_per_s"] = bw;
    }
    std::printf("\n");
    std::fflush(stdout);
    all.push_back(entry);
  }
  if (!json_path.empty()) {
    nlohmann::json j = {{"command", cmd},
                        {"threads", threads},
                        {"repetitions", reps},
                        {"shape", "llama-3.2-1b layer: q/k/v, o, gate/up, down"},
                        {"layers", n_layers},
                        {"isa", std::string(kernels::isa_name(kernels::active_isa()))},
                        {"loadavg_at_end", tandem::bench::loadavg()},
                        {"types", all}};
    std::ofstream(json_path) << j.dump(2) << "\n";
  }
  return 0;
}
