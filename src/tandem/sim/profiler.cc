#include "tandem/sim/profiler.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tandem/base/error.h"
#include "tandem/loadgen/workload.h"
#include "tandem/serve/server.h"
#include "tandem/sim/rouge.h"

namespace tandem::sim {
namespace {

struct Sample {
  std::string prompt, continuation;
};

std::vector<Sample> read_samples(const std::string& path, int n) {
  std::ifstream f(path);
  if (!f) fail("{}: cannot open", path);
  std::vector<Sample> out;
  std::string line;
  int lineno = 0;
  while (static_cast<int>(out.size()) < n && std::getline(f, line)) {
    ++lineno;
    if (line.empty()) continue;
    try {
      const auto j = nlohmann::json::parse(line);
      if (!j.contains("continuation")) continue;
      out.push_back({j.at("prompt").get<std::string>(), j.at("continuation").get<std::string>()});
    } catch (const nlohmann::json::exception& e) {
      fail("{}:{}: {}", path, lineno, e.what());
    }
  }
  if (out.empty()) fail("{}: no lines with both \"prompt\" and \"continuation\"", path);
  return out;
}

struct Done {
  std::string text;
  int64_t completion_tokens = 0;
};

// Submits every request at once and waits for all of them; returns wall seconds.
double run_batch(serve::Engine& engine, std::vector<serve::GenerationParams> batch,
                 std::vector<Done>* done) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  std::vector<std::shared_ptr<serve::RequestStream>> streams;
  for (auto& p : batch) {
    p.arrival = Clock::now();
    serve::Admission a = engine.submit(std::move(p));
    if (!a.stream) fail("profiler: the engine refused a request: {}", a.error.message);
    streams.push_back(a.stream);
  }
  if (done) done->assign(streams.size(), {});
  for (size_t i = 0; i < streams.size(); ++i) {
    for (;;) {
      auto e = streams[i]->next(std::chrono::milliseconds(60000));
      if (!e) fail("profiler: no answer within 60 s");
      if (e->kind == serve::Event::Kind::kText) {
        if (done) (*done)[i].text += e->text;
      } else if (e->kind == serve::Event::Kind::kError) {
        fail("profiler: request failed: {}", e->error.message);
      } else {
        if (done) (*done)[i].completion_tokens = e->completion_tokens;
        break;
      }
    }
  }
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

Profile measure_profile(const serve::ServeConfig& config, const ProfilerOptions& o,
                        const std::function<void(const std::string&)>& progress) {
  auto say = [&](const std::string& s) {
    if (progress) progress(s);
  };
  loadgen::PromptSet set = loadgen::PromptSet::load(o.prompts_dir);
  Profile prof;
  prof.domains = set.domains();
  std::vector<std::vector<Sample>> samples;
  for (const std::string& d : prof.domains)
    samples.push_back(read_samples(o.prompts_dir + "/" + d + ".jsonl", o.prompts_per_domain));

  serve::Metrics metrics;
  serve::declare_serving_metrics(metrics);
  serve::EngineOptions eo = o.engine;
  eo.slots = std::max(eo.slots, o.batch);
  serve::Engine engine(
      config, eo, serve::make_policy("fixed:" + config.tiers.at(0).name, config.tiers), metrics);
  engine.start();
  prof.slots = eo.slots;
  const Tokenizer& tok = engine.tokenizer();
  auto params = [&](const std::string& prompt, int tier, int64_t max_tokens) {
    serve::GenerationParams p;
    p.id = "profile";
    p.prompt = tok.encode(prompt, true, false);
    p.max_tokens = max_tokens;
    p.tier = tier;
    return p;
  };
  const std::string timing_prompt = samples.at(0).at(0).prompt;
  const int64_t prompt_tokens = static_cast<int64_t>(tok.encode(timing_prompt, true, false).size());
  for (size_t t = 0; t < config.tiers.size(); ++t) {
    TierProfile tp;
    tp.name = config.tiers[t].name;
    const int tier = static_cast<int>(t);
    // Warm-up (KV caches are allocated on first use).
    run_batch(engine, {params(timing_prompt, tier, 4)}, nullptr);
    auto timed = [&](int b, int64_t n, double* tokens) {
      double best = 1e30;
      for (int r = 0; r < std::max(1, o.repeats); ++r) {
        std::vector<serve::GenerationParams> batch;
        for (int i = 0; i < b; ++i) batch.push_back(params(timing_prompt, tier, n));
        std::vector<Done> done;
        best = std::min(best, run_batch(engine, std::move(batch), &done));
        if (tokens) {
          double sum = 0;
          for (const Done& d : done) sum += static_cast<double>(d.completion_tokens);
          *tokens = sum / static_cast<double>(done.size());
        }
      }
      return best;
    };
    double iter[2];
    double prefill1 = 0;
    const int bs[2] = {1, o.batch};
    for (int k = 0; k < 2; ++k) {
      const double t1 = timed(bs[k], 1, nullptr);
      double gen = 0;
      const double tn = timed(bs[k], o.timing_tokens, &gen);
      iter[k] = std::max(1e-5, (tn - t1) / std::max(1.0, gen - 1));
      if (k == 0) prefill1 = t1;
      say(fmt::format(
          "{}: batch {}: {:.2f} ms per iteration ({:.1f} tokens; prefill run {:.1f} ms)", tp.name,
          bs[k], iter[k] * 1e3, gen, t1 * 1e3));
    }
    tp.step_base_s = iter[0];
    tp.step_per_seq_s = std::max(0.0, (iter[1] - iter[0]) / std::max(1, o.batch - 1));
    tp.prefill_token_s = std::max(0.0, prefill1 - tp.step_base_s) /
                         static_cast<double>(std::max<int64_t>(1, prompt_tokens));
    // Quality: all prompts of all domains at once (greedy, so batching does not change text).
    std::vector<serve::GenerationParams> batch;
    for (const auto& ds : samples)
      for (const Sample& s : ds) batch.push_back(params(s.prompt, tier, o.quality_tokens));
    std::vector<Done> done;
    run_batch(engine, std::move(batch), &done);
    size_t k = 0;
    for (size_t d = 0; d < samples.size(); ++d) {
      double sum = 0;
      for (const Sample& s : samples[d]) sum += rouge_l(done[k++].text, s.continuation).f1;
      tp.quality.push_back(sum / static_cast<double>(samples[d].size()));
    }
    say(fmt::format(
        "{}: quality {:.3f} (mean ROUGE-L F1 over {} domains)", tp.name,
        [&] {
          double s = 0;
          for (double q : tp.quality) s += q;
          return s / static_cast<double>(tp.quality.size());
        }(),
        tp.quality.size()));
    prof.tiers.push_back(std::move(tp));
  }
  engine.stop();
  prof.validate("measured profile");
  return prof;
}

}  // namespace tandem::sim
