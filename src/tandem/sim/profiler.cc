#include "tandem/sim/profiler.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <tuple>
#include <utility>

#include "tandem/base/error.h"
#include "tandem/base/thread_pool.h"
#include "tandem/base/timer.h"
#include "tandem/loadgen/workload.h"
#include "tandem/model/model.h"
#include "tandem/serve/server.h"
#include "tandem/sim/rouge.h"
#include "tandem/sim/simulator.h"

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
  decode::DecodeStats stats;
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
        if (done) (*done)[i].stats = e->stats;
        break;
      }
    }
  }
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Engine overhead per iteration = a + c * sequences from (sequences, seconds)
// samples, least squares, clamped at >= 0; (0, 0) without samples.
std::pair<double, double> fit_overhead(const std::vector<std::pair<double, double>>& samples) {
  if (samples.empty()) return {0.0, 0.0};
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const auto& [x, y] : samples) sx += x, sy += y, sxx += x * x, sxy += x * y;
  const double n = static_cast<double>(samples.size());
  const double den = n * sxx - sx * sx;
  double c = den > 0 ? (n * sxy - sx * sy) / den : 0;
  double a = (sy - c * sx) / n;
  if (c < 0) c = 0, a = sy / n;
  return {std::max(0.0, a), c};
}

// A speculative tier's decode pattern from `s`, the stats of `requests` requests that fed
// `prompt_tokens` prompt tokens to the big model in all (their prefill phase is one call
// per model per request); unchanged if `s` saw no verification.
void set_decode_pattern(TierProfile& tp, const decode::DecodeStats& s, int64_t requests,
                        int64_t prompt_tokens) {
  if (s.rounds <= 0) return;
  const double rounds = static_cast<double>(s.rounds);
  tp.tokens_per_cycle = static_cast<double>(s.generated) / rounds;
  tp.drafts_per_cycle = static_cast<double>(s.little_calls - requests) / rounds;
  tp.big_tokens_per_cycle = static_cast<double>(s.big_tokens - prompt_tokens) / rounds;
}

// Forward seconds of `model` by tokens fed (see the header).
ModelCost measure_forward(const std::string& name, const std::string& path,
                          const ProfilerOptions& o, ThreadPool& shared_pool,
                          const std::function<void(const std::string&)>& say) {
  std::unique_ptr<Model> model = Model::load(path);
  // As the Engine does: small models run on the calling thread alone.
  ThreadPool solo(1);
  ThreadPool& pool =
      model->weights().bytes_per_token() < o.engine.single_thread_below_bytes ? solo : shared_pool;
  const int slots = std::max(1, o.engine.slots);
  const int64_t max_point = o.forward_points.empty() ? 1
                                                     : *std::max_element(o.forward_points.begin(),
                                                                         o.forward_points.end());
  const int64_t per_seq_max = (max_point + slots - 1) / slots;
  const int64_t n_ctx =
      std::min<int64_t>(model->config().n_ctx_train, o.context_tokens + per_seq_max + 8);
  KvCache cache = model->make_cache(n_ctx, slots);
  const int64_t ctx = std::min<int64_t>(o.context_tokens, n_ctx - per_seq_max - 1);
  const int64_t vocab = model->config().n_vocab;
  auto token = [&](int64_t i) { return static_cast<int32_t>(300 + (i * 7919) % (vocab - 300)); };
  ForwardOutput out;
  {  // Each sequence holds a prompt of ctx tokens.
    std::vector<SequenceInput> pre;
    for (int q = 0; q < slots; ++q) {
      SequenceInput in;
      in.seq = q;
      for (int64_t i = 0; i < ctx; ++i) in.tokens.push_back(token(q * 1000 + i));
      pre.push_back(std::move(in));
    }
    ForwardOptions fo;
    fo.logits = LogitsMode::kLast;
    model->forward(pre, cache, fo, out, pool);
  }
  // One batch per point: `tokens` spread over up to `slots` sequences, one token each first.
  std::vector<std::vector<SequenceInput>> batches;
  for (int64_t tokens : o.forward_points) {
    const int n = static_cast<int>(std::min<int64_t>(tokens, slots));
    std::vector<SequenceInput> batch;
    for (int q = 0; q < n; ++q) {
      SequenceInput in;
      in.seq = q;
      const int64_t k = tokens / n + (q < tokens % n ? 1 : 0);
      for (int64_t i = 0; i < k; ++i) in.tokens.push_back(token(q * 31 + i));
      batch.push_back(std::move(in));
    }
    batches.push_back(std::move(batch));
  }
  ForwardOptions fo;
  fo.logits = LogitsMode::kLast;
  auto once = [&](const std::vector<SequenceInput>& batch) {
    for (const SequenceInput& in : batch) cache.truncate(in.seq, ctx);
    model->forward(batch, cache, fo, out, pool);
  };
  for (const auto& batch : batches) once(batch);  // warm-up
  // Rounds over all points (`repeats` forwards per point per round) until both
  // `min_rounds` and `min_seconds` are reached; a point's cost is the mean of all
  // its forwards. Sweeping the points in rounds, rather than one point after the
  // other, lets every point see the same mix of the machine's states (a shared
  // host drifts by 30 % and more within seconds), so the table is consistent
  // across points and its level is the sustained one a minute-long serving run sees.
  std::vector<double> seconds(batches.size(), 0.0);
  std::vector<int64_t> runs(batches.size(), 0);
  Timer total;
  for (int round = 0; round < std::max(1, o.min_rounds) || total.seconds() < o.min_seconds;
       ++round) {
    for (size_t p = 0; p < batches.size(); ++p) {
      Timer t;
      for (int r = 0; r < std::max(1, o.repeats); ++r) once(batches[p]);
      seconds[p] += t.seconds();
      runs[p] += std::max(1, o.repeats);
    }
  }
  ModelCost mc;
  mc.name = name;
  for (size_t p = 0; p < batches.size(); ++p)
    mc.forward.emplace_back(o.forward_points[p], seconds[p] / static_cast<double>(runs[p]));
  // A verifying forward needs the logits of every token it is fed: `slots` sequences of 4
  // tokens (a 3-token draft plus the last accepted token) with all logits against the
  // same batch with the last ones, alternated; the difference per further row.
  {
    std::vector<SequenceInput> verify;
    for (int q = 0; q < slots; ++q) {
      SequenceInput in;
      in.seq = q;
      for (int64_t i = 0; i < 4; ++i) in.tokens.push_back(token(q * 17 + i));
      verify.push_back(std::move(in));
    }
    ForwardOptions all;
    all.logits = LogitsMode::kAll;
    auto timed = [&](const ForwardOptions& opts) {
      for (const SequenceInput& in : verify) cache.truncate(in.seq, ctx);
      Timer t;
      model->forward(verify, cache, opts, out, pool);
      return t.seconds();
    };
    timed(all);  // warm-up
    double last_s = 0, all_s = 0;
    const int n = std::max(5, o.min_rounds * std::max(1, o.repeats));
    for (int r = 0; r < n; ++r) {
      last_s += timed(fo);
      all_s += timed(all);
    }
    mc.logits_row_s = std::max(0.0, (all_s - last_s) / n) / static_cast<double>(3 * slots);
  }
  std::string line = fmt::format("model {}: forward ms by tokens:", name);
  for (const auto& [n, sec] : mc.forward) line += fmt::format(" {}:{:.2f}", n, sec * 1e3);
  line += fmt::format("; {:.4f} ms per further logits row", mc.logits_row_s * 1e3);
  say(line);
  return mc;
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

  serve::EngineOptions eo = o.engine;
  eo.slots = std::max(eo.slots, o.batch);
  // Every quality prompt of a tier is submitted at once.
  eo.max_queued_requests = std::max<int64_t>(
      eo.max_queued_requests, static_cast<int64_t>(samples.size()) * o.prompts_per_domain + 1);
  eo.max_queued_tokens = std::max<int64_t>(eo.max_queued_tokens, eo.max_queued_requests * 1024);
  prof.slots = eo.slots;
  {
    ThreadPool pool(eo.threads > 0 ? eo.threads : ThreadPool::default_threads());
    ProfilerOptions fo = o;
    fo.engine = eo;
    for (const serve::ModelSpec& m : config.models)
      prof.models.push_back(measure_forward(m.name, m.path, fo, pool, say));
  }

  serve::Metrics metrics;
  serve::declare_serving_metrics(metrics);
  serve::Engine engine(
      config, eo, serve::make_policy("fixed:" + config.tiers.at(0).name, config.tiers), metrics);
  engine.start();
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
  // Engine overhead samples: (sequences, seconds per iteration outside forwards).
  std::vector<std::pair<double, double>> overhead;
  struct Run {
    int tier, batch;
    double wall_s;
    decode::DecodeStats stats;  // summed over the batch: its own decode pattern
  };
  std::vector<Run> runs;
  const int64_t timing_prompt_tokens =
      static_cast<int64_t>(tok.encode(timing_prompt, true, false).size());
  auto forward_seconds = [&] {
    double s = 0;
    for (const serve::ModelSpec& m : config.models)
      s += metrics.value("tandem:forward_seconds_total", {m.name});
    return s;
  };
  for (size_t t = 0; t < config.tiers.size(); ++t) {
    const serve::TierSpec& spec = config.tiers[t];
    TierProfile tp;
    tp.name = spec.name;
    tp.strategy = spec.strategy == decode::Mode::kAr     ? "ar"
                  : spec.strategy == decode::Mode::kSpec ? "spec"
                                                         : "bild";
    tp.big = config.model_index(spec.big);
    tp.little = spec.little.empty() ? -1 : config.model_index(spec.little);
    const int tier = static_cast<int>(t);
    {  // Warm-up at the largest batch, so the timed runs meet no first-touch page faults.
      std::vector<serve::GenerationParams> warm;
      for (int i = 0; i < o.batch; ++i) warm.push_back(params(timing_prompt, tier, 4));
      run_batch(engine, std::move(warm), nullptr);
    }
    std::vector<std::pair<double, double>> tier_overhead;
    for (int b : {1, o.batch}) {
      std::vector<serve::GenerationParams> batch;
      for (int i = 0; i < b; ++i) batch.push_back(params(timing_prompt, tier, o.timing_tokens));
      const double f0 = forward_seconds();
      const double it0 = metrics.value("tandem:engine_iterations_total");
      std::vector<Done> timed;
      const double wall = run_batch(engine, std::move(batch), &timed);
      const double iters = metrics.value("tandem:engine_iterations_total") - it0;
      const double outside = wall - (forward_seconds() - f0);
      if (iters > 0) {
        overhead.emplace_back(b, outside / iters);
        tier_overhead.emplace_back(b, outside / iters);
      }
      decode::DecodeStats st;
      for (const Done& d : timed) st += d.stats;
      runs.push_back({static_cast<int>(t), b, wall, st});
      say(fmt::format(
          "{}: {} sequence(s): {:.1f} ms, {:.0f} iterations, {:.3f} ms/iteration outside "
          "forwards",
          tp.name, b, wall * 1e3, iters, iters > 0 ? outside / iters * 1e3 : 0.0));
    }
    std::tie(tp.overhead_iter_s, tp.overhead_seq_s) = fit_overhead(tier_overhead);
    // Quality and decode pattern: all prompts of all domains at once (greedy, so batching
    // does not change the text).
    std::vector<serve::GenerationParams> batch;
    for (const auto& ds : samples)
      for (const Sample& s : ds) batch.push_back(params(s.prompt, tier, o.quality_tokens));
    std::vector<Done> done;
    run_batch(engine, std::move(batch), &done);
    size_t k = 0;
    decode::DecodeStats sum;
    int64_t prefill = 0;
    for (size_t d = 0; d < samples.size(); ++d) {
      double q = 0;
      for (const Sample& s : samples[d]) {
        q += rouge_l(done[k].text, s.continuation).f1;
        sum += done[k].stats;
        prefill += static_cast<int64_t>(tok.encode(s.prompt, true, false).size()) - 1;
        ++k;
      }
      tp.quality.push_back(q / static_cast<double>(samples[d].size()));
    }
    if (tp.little >= 0) set_decode_pattern(tp, sum, static_cast<int64_t>(k), prefill);
    double mean_q = 0;
    for (double q : tp.quality) mean_q += q;
    say(
        fmt::format("{}: quality {:.3f} (mean ROUGE-L F1 over {} domains); {:.2f} tokens, {:.2f} "
                    "drafts, {:.2f} big tokens per verification",
                    tp.name, mean_q / static_cast<double>(tp.quality.size()), tp.quality.size(),
                    tp.tokens_per_cycle, tp.drafts_per_cycle, tp.big_tokens_per_cycle));
    prof.tiers.push_back(std::move(tp));
  }
  engine.stop();
  std::tie(prof.overhead_iter_s, prof.overhead_seq_s) = fit_overhead(overhead);
  say(fmt::format("engine overhead (all tiers): {:.3f} ms per iteration + {:.3f} ms per sequence",
                  prof.overhead_iter_s * 1e3, prof.overhead_seq_s * 1e3));
  prof.validate("measured profile");
  prof.derive_tier_costs();
  // Calibration: the timing runs again, in the simulator.
  std::string cal = "engine vs simulator (timing runs, wall ms measured/simulated):";
  // A speculative tier is simulated with the decode pattern of the timing run itself: one
  // prompt, repeated, drafts better or worse than the quality prompts' average.
  for (const Run& r : runs) {
    Profile cal_prof = prof;
    TierProfile& ct = cal_prof.tiers[r.tier];
    if (ct.little >= 0)
      set_decode_pattern(ct, r.stats, r.batch, r.batch * (timing_prompt_tokens - 1));
    std::vector<SimRequest> reqs(static_cast<size_t>(r.batch));
    for (size_t i = 0; i < reqs.size(); ++i) {
      reqs[i].id = static_cast<int64_t>(i);
      reqs[i].prompt_tokens = timing_prompt_tokens;
      reqs[i].max_tokens = o.timing_tokens;
    }
    SimOptions so;
    so.slots = eo.slots;
    const auto pol = serve::make_policy("fixed:" + config.tiers[r.tier].name, config.tiers);
    double sim_s = 0;
    for (const RequestResult& res : simulate(cal_prof, so, reqs, *pol))
      sim_s = std::max(sim_s, res.latency_s);
    cal += fmt::format(" {} x{} {:.0f}/{:.0f};", config.tiers[r.tier].name, r.batch, r.wall_s * 1e3,
                       sim_s * 1e3);
  }
  say(cal);
  prof.note = cal;
  return prof;
}

}  // namespace tandem::sim
