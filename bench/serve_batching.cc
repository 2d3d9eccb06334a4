// serve_batching — aggregate decode throughput of the serving engine's
// continuous batching at several concurrency levels, on one model.
//
//   serve_batching MODEL [--concurrency 1,4,16,32] [-n TOKENS] [-t THREADS] [--json OUT]
//
// For each level N: an Engine with N slots (tier `ar` on MODEL) gets N requests
// at once (same short prompt, different seeds, temperature 1 so sequences
// differ); decode throughput is the tokens generated after every sequence has
// its first token, divided by the time from then until the last finishes — the
// steady state where all N decode together, prefill excluded. Prints a table
// and writes JSON (with the command line) for bench/results/.
#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "tandem/base/error.h"
#include "tandem/serve/engine.h"
#include "tandem/serve/server.h"

using namespace tandem;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr,
               "usage: serve_batching MODEL [--concurrency 1,4,16,32] [-n TOKENS] [-t THREADS] "
               "[--json OUT]\n");
    return 2;
  }
  std::string model = argv[1], json_out;
  std::vector<int> levels = {1, 4, 16, 32};
  int64_t n_tokens = 32;
  int threads = 2;
  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--concurrency") {
      levels = tandem::bench::parse_int_list(v);
    } else if (a == "-n") {
      n_tokens = std::stoll(v);
    } else if (a == "-t") {
      threads = std::stoi(v);
    } else if (a == "--json") {
      json_out = v;
    } else {
      fmt::print(stderr, "unknown option {}\n", a);
      return 2;
    }
  }
  try {
    nlohmann::json results = nlohmann::json::array();
    double single = 0;
    fmt::print("{:>12} {:>10} {:>14} {:>12} {:>10} {:>10}\n", "concurrency", "tokens",
               "decode tok/s", "vs N=1", "seconds", "in model");
    for (int n : levels) {
      serve::Metrics metrics;
      serve::declare_serving_metrics(metrics);
      serve::EngineOptions eo;
      eo.slots = n;
      eo.n_ctx = 256;
      eo.threads = threads;
      eo.max_queued_requests = n;
      serve::ServeConfig config = serve::default_serve_config(model, "");
      serve::Engine engine(config, eo, serve::make_policy("fixed:big", config.tiers), metrics);
      engine.start();
      const std::vector<int32_t> prompt = engine.tokenizer().encode(
          "In the beginning God created the heaven and the earth.", true, false);
      std::vector<std::shared_ptr<serve::RequestStream>> streams;
      const Clock::time_point t_submit = Clock::now();
      for (int i = 0; i < n; ++i) {
        serve::GenerationParams p;
        p.id = fmt::format("bench-{}", i);
        p.prompt = prompt;
        p.max_tokens = n_tokens;
        p.sampling.temperature = 1.0f;
        p.sampling.seed = static_cast<uint64_t>(i + 1);
        serve::Admission a = engine.submit(std::move(p));
        if (!a.stream) fail("request refused: {}", a.error.message);
        streams.push_back(a.stream);
      }
      // Follow every stream; note when each got its first text and when each ended.
      std::vector<Clock::time_point> first(n), end(n);
      std::vector<int64_t> tokens(n, 0);
      std::vector<std::string> errors(n);
      std::vector<std::thread> readers;
      for (int i = 0; i < n; ++i)
        readers.emplace_back([&, i] {
          bool got = false;
          for (;;) {
            auto e = streams[i]->next(std::chrono::milliseconds(1000));
            if (!e) continue;
            if (e->kind == serve::Event::Kind::kText && !got) first[i] = Clock::now(), got = true;
            if (e->kind == serve::Event::Kind::kError) {
              errors[i] = e->error.message;
              end[i] = first[i] = Clock::now();
              return;
            }
            if (e->kind == serve::Event::Kind::kFinished) {
              end[i] = Clock::now();
              tokens[i] = e->completion_tokens;
              if (!got) first[i] = end[i];
              return;
            }
          }
        });
      for (auto& t : readers) t.join();
      engine.stop();
      const double forward_s = metrics.value("tandem:forward_seconds_total", {"big"});
      for (const std::string& e : errors)
        if (!e.empty()) fail("a request failed: {}", e);
      const Clock::time_point all_started = *std::max_element(first.begin(), first.end());
      const Clock::time_point all_done = *std::max_element(end.begin(), end.end());
      // Tokens after the steady state began: each sequence's tokens scaled by the share of its
      // decode time that lies after all_started (tokens are emitted at an even pace per sequence).
      double steady_tokens = 0;
      for (int i = 0; i < n; ++i) {
        const double span = std::chrono::duration<double>(end[i] - first[i]).count();
        const double after = std::chrono::duration<double>(end[i] - all_started).count();
        if (span > 0 && after > 0) steady_tokens += (tokens[i] - 1) * std::min(1.0, after / span);
      }
      const double seconds = std::chrono::duration<double>(all_done - all_started).count();
      const double rate = seconds > 0 ? steady_tokens / seconds : 0;
      if (n == levels.front()) single = rate;
      int64_t total = 0;
      for (int64_t t : tokens) total += t;
      const double wall = std::chrono::duration<double>(all_done - t_submit).count();
      fmt::print("{:>12} {:>10} {:>14.2f} {:>11.2f}x {:>10.2f} {:>9.0f}%\n", n, total, rate,
                 single > 0 ? rate / single : 0, seconds, 100 * forward_s / wall);
      results.push_back({{"concurrency", n},
                         {"generated_tokens", total},
                         {"steady_tokens", steady_tokens},
                         {"steady_seconds", seconds},
                         {"decode_tok_per_s", rate},
                         {"forward_seconds", forward_s},
                         {"ratio_vs_first_level", single > 0 ? rate / single : 0}});
    }
    if (!json_out.empty()) {
      nlohmann::json j = {{"command", command},
                          {"model", model},
                          {"threads", threads},
                          {"max_tokens", n_tokens},
                          {"results", results}};
      std::ofstream(json_out) << j.dump(2) << "\n";
      fmt::print("wrote {}\n", json_out);
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  return 0;
}
