// Batched decode throughput: one forward() over N sequences x 1 new token each
// (different sequences, each with its own context), the shape of a server's
// continuous batching, against N = 1 in the same process.
//
//   batched_forward -m MODEL [-t THREADS] [-c CONTEXT] [-r REPS] [-n 1,4,16,32]
//                   [--json PATH]
//
// Every sequence is first filled with CONTEXT tokens of its own. Each repetition
// truncates the sequences back to CONTEXT and runs one forward per N, the N values
// interleaved (noise from other processes hits all of them alike); reported: the
// median and min seconds per forward, tokens/s = N / median, and each N's
// aggregate rate over the N = 1 rate. Logits: the last token of every sequence,
// as a server needs. The JSON records the command line.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench_util.h"
#include "tandem/base/thread_pool.h"
#include "tandem/base/timer.h"
#include "tandem/kernels/cpu/isa.h"
#include "tandem/model/model.h"

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path, json_path;
  int threads = 2, ctx = 24, reps = 5;
  std::vector<int> ns = {1, 4, 16, 32};
  std::string cmd;
  for (int i = 0; i < argc; ++i) cmd += (i ? " " : "") + std::string(argv[i]);
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "-m")
      model_path = next();
    else if (a == "-t")
      threads = std::atoi(next().c_str());
    else if (a == "-c")
      ctx = std::atoi(next().c_str());
    else if (a == "-r")
      reps = std::atoi(next().c_str());
    else if (a == "-n")
      ns = tandem::bench::parse_int_list(next());
    else if (a == "--json")
      json_path = next();
    else {
      std::fprintf(stderr,
                   "usage: %s -m MODEL [-t THREADS] [-c CONTEXT] [-r REPS] [-n 1,4,16,32] "
                   "[--json PATH]\n",
                   argv[0]);
      return 2;
    }
  }
  if (model_path.empty() || ns.empty()) {
    std::fprintf(stderr, "-m MODEL is required\n");
    return 2;
  }
  using namespace tandem;
  ThreadPool pool(threads);
  auto model = Model::load(model_path);
  const int max_n = *std::max_element(ns.begin(), ns.end());
  KvCache cache = model->make_cache(ctx + 8, max_n);
  const int64_t vocab = model->config().n_vocab;
  {
    // Contexts of all sequences in one batched forward (no logits needed).
    std::vector<SequenceInput> fill;
    for (int s = 0; s < max_n; ++s) {
      std::vector<int32_t> toks(ctx);
      for (int i = 0; i < ctx; ++i) toks[i] = static_cast<int32_t>((s * 7919 + i * 104729) % vocab);
      fill.push_back(SequenceInput{s, toks, {}});
    }
    ForwardOptions fo;
    fo.logits = LogitsMode::kNone;
    ForwardOutput out;
    Timer t;
    model->forward(fill, cache, fo, out, pool);
    std::printf("context: %d sequences x %d tokens in %.2f s\n", max_n, ctx, t.seconds());
  }
  std::vector<std::vector<double>> secs(ns.size());
  ForwardOutput out;
  for (int r = 0; r < reps + 1; ++r) {  // the first round warms up
    for (size_t k = 0; k < ns.size(); ++k) {
      std::vector<SequenceInput> batch;
      for (int s = 0; s < ns[k]; ++s) {
        cache.truncate(s, ctx);
        batch.push_back(SequenceInput{s, {static_cast<int32_t>((s * 31 + r) % vocab)}, {}});
      }
      Timer t;
      model->forward(batch, cache, ForwardOptions{}, out, pool);
      if (r > 0) secs[k].push_back(t.seconds());
    }
  }
  nlohmann::json res = nlohmann::json::array();
  double base_tps = 0;
  for (size_t k = 0; k < ns.size(); ++k) {
    const double med = median(secs[k]);
    const double tps = ns[k] / med;
    if (ns[k] == 1) base_tps = tps;
    res.push_back({{"sequences", ns[k]},
                   {"median_s", med},
                   {"min_s", *std::min_element(secs[k].begin(), secs[k].end())},
                   {"tok_per_s", tps}});
  }
  for (auto& e : res) {
    if (base_tps > 0) e["aggregate_over_single"] = e["tok_per_s"].get<double>() / base_tps;
    std::printf("N=%3d  %8.2f ms/forward  %7.2f tok/s  x%.2f\n", e["sequences"].get<int>(),
                e["median_s"].get<double>() * 1e3, e["tok_per_s"].get<double>(),
                e.value("aggregate_over_single", 0.0));
  }
  if (!json_path.empty()) {
    nlohmann::json j = {{"command", cmd},
                        {"model", model_path},
                        {"threads", threads},
                        {"context_tokens", ctx},
                        {"repetitions", reps},
                        {"isa", std::string(kernels::isa_name(kernels::active_isa()))},
                        {"loadavg_at_end", tandem::bench::loadavg()},
                        {"results", res}};
    std::ofstream(json_path) << j.dump(2) << "\n";
  }
  return 0;
}
