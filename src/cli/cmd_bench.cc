// `tandem bench -m MODEL`: prompt-processing and decode throughput, measured
// together with the machine's memory read bandwidth in the same run (right
// before and after each decode run), so the decode roofline ratio (achieved
// tokens/s over bandwidth / bytes per token) compares numbers taken moments
// apart on one machine.
// `tandem bench -m BIG -d LITTLE --prompts DIR`: instead, decoding strategies
// (ar big, ar little, spec, bild over a grid of thresholds) on held-out prompts
// (DIR/<domain>.jsonl with "prompt" and "continuation"), greedy, each prompt run
// by every configuration back to back; writes tokens, texts, timings and
// statistics per prompt as JSON (bench/speculative.py scores and plots them).
// Every run is timed in two phases: prefill (the prompt through each model the
// strategy uses) and generation. With --temperature, sampling rows too; with
// --costs N, instead a table of forward costs of 1..N tokens for both models
// (the input of speed-up projections at other model sizes).
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include <filesystem>
#include <sstream>
#include "cli/commands.h"
#include "tandem/base/big_buffer.h"
#include "tandem/base/error.h"
#include "tandem/base/timer.h"
#include "tandem/decode/driver.h"
#include "tandem/gguf/reader.h"
#include "tandem/kernels/cpu/bandwidth.h"
#include "tandem/kernels/cpu/isa.h"
#include "tandem/model/model.h"
#include "tandem/tokenizer/tokenizer.h"

namespace tandem::cli {
namespace {

struct BenchOptions {
  std::vector<std::string> models;
  int n_prompt = 128;
  int n_gen = 32;
  int repeats = 3;
  std::string json_path;
  // Speculative-decoding benchmark.
  std::string draft, prompts_dir;
  int per_domain = 10;
  std::vector<int> draft_max = {4};
  int bild_steps = 10;
  std::vector<std::string> grid = {"0.6:5", "0.3:2", "0.5:3", "0.8:5", "0.9:8", "0.6:0"};
  float temperature = 0;  // > 0: also sampling rows
  std::vector<std::string> sampling_grid = {"0.6:5"};
  // Forward-cost table instead (see bench_costs).
  int costs = 0, cost_ctx = 96, cost_repeats = 7;
};

// 512 MiB: far beyond the last-level cache, short enough to probe often.
constexpr size_t kBandwidthProbeBytes = size_t{512} << 20;

int32_t argmax(const float* x, int64_t n) {
  return static_cast<int32_t>(std::max_element(x, x + n) - x);
}

nlohmann::json bench_model(const std::string& path, const BenchOptions& o, ThreadPool& pool) {
  auto model = Model::load(path);
  const ModelConfig& c = model->config();
  KvCache cache = model->make_cache(o.n_prompt + o.n_gen + 1, 1);
  std::mt19937 rng(42);
  std::vector<int32_t> prompt(o.n_prompt);
  for (auto& t : prompt) t = static_cast<int32_t>(rng() % c.n_vocab);

  // Prompt processing: the whole prompt in one batched forward; best of N.
  double pp_best = 1e30;
  std::vector<float> logits;
  for (int r = 0; r < o.repeats; ++r) {
    cache.clear(0);
    Timer t;
    logits = model->forward_last(0, prompt, cache, pool);
    pp_best = std::min(pp_best, t.seconds());
  }
  // Decode: one token per forward at batch 1, greedy. The machine's read
  // bandwidth drifts (shared hosts), so it is measured right before and after
  // every decode run and each run is compared with the mean of the two. The
  // median run is reported (speed and ratio), with the spread of the ratios.
  struct Run {
    double tps, bandwidth, ratio;
  };
  std::vector<Run> runs;
  const double mean_ctx = o.n_prompt + (o.n_gen + 1) / 2.0;
  const double kv_bytes = 2.0 * c.n_layer * mean_ctx * c.kv_dim() * sizeof(float);
  const double bytes_per_token = static_cast<double>(model->weights().bytes_per_token()) + kv_bytes;
  // As the decode driver and the server do: one input and one output reused
  // across steps (forward_last would allocate two logits vectors per token).
  SequenceInput in{0, {0}, {}};
  ForwardOutput out;
  for (int r = 0; r < o.repeats; ++r) {
    cache.truncate(0, o.n_prompt);
    in.tokens[0] = argmax(logits.data(), c.n_vocab);
    const double bw_before = kernels::measure_read_bandwidth(pool, kBandwidthProbeBytes);
    Timer t;
    for (int i = 0; i < o.n_gen; ++i) {
      model->forward(std::span<const SequenceInput>(&in, 1), cache, ForwardOptions{}, out, pool);
      in.tokens[0] = argmax(out.logits.data(), c.n_vocab);
    }
    const double tps = o.n_gen / t.seconds();
    const double bw = (bw_before + kernels::measure_read_bandwidth(pool, kBandwidthProbeBytes)) / 2;
    runs.push_back({tps, bw, tps / (bw / bytes_per_token)});
  }
  std::sort(runs.begin(), runs.end(), [](const Run& a, const Run& b) { return a.ratio < b.ratio; });
  const Run& median = runs[runs.size() / 2];
  const double pp_tps = o.n_prompt / pp_best;
  const double dec_tps = median.tps;
  const double bandwidth = median.bandwidth;
  std::string types;
  {
    std::map<std::string, int> count;
    for (const auto& t : model->file().tensors()) count[std::string(dtype_name(t.type))]++;
    for (const auto& [k, v] : count)
      types += (types.empty() ? "" : ",") + k + ":" + std::to_string(v);
  }
  return {
      {"model", path},
      {"tensor_types", types},
      {"params_dim", c.dim},
      {"n_layer", c.n_layer},
      {"n_vocab", c.n_vocab},
      {"bytes_per_token", bytes_per_token},
      {"prompt_tokens", o.n_prompt},
      {"prompt_tok_per_s", pp_tps},
      {"decode_tokens", o.n_gen},
      {"decode_tok_per_s", dec_tps},
      {"bandwidth_bytes_per_s", bandwidth},
      {"roofline_tok_per_s", bandwidth / bytes_per_token},
      {"decode_roofline_ratio", median.ratio},
      {"decode_roofline_ratio_min", runs.front().ratio},
      {"decode_roofline_ratio_max", runs.back().ratio},
      {"decode_runs", o.repeats},
      {"prompt_over_decode_per_token", pp_tps / dec_tps},
  };
}

struct SpecConfig {
  std::string label;
  decode::DecodeOptions options;
  std::string baseline;  // the ar-big row this one is compared with
};

// "FALLBACK:ROLLBACK" or "FALLBACK:ROLLBACK:STEPS" (bild's max_little_steps).
decode::DecodeOptions parse_bild(const std::string& g, decode::DecodeOptions b, int steps) {
  float fb = 0, rb = 0;
  int st = steps;
  const int n = std::sscanf(g.c_str(), "%f:%f:%d", &fb, &rb, &st);
  if (n != 2 && n != 3) fail("grid entry '{}' is not FALLBACK:ROLLBACK[:STEPS]", g);
  b.mode = decode::Mode::kBild;
  b.draft_max = st;
  b.alpha_fb = fb;
  b.alpha_rb = rb;
  return b;
}

std::string bild_label(const decode::DecodeOptions& b, int default_steps) {
  std::string l = fmt::format("bild-{}-{}", b.alpha_fb, b.alpha_rb);
  if (b.draft_max != default_steps) l += fmt::format("-s{}", b.draft_max);
  return l;
}

std::vector<SpecConfig> speculative_configs(const BenchOptions& o,
                                            const decode::DecodeOptions& base) {
  std::vector<SpecConfig> configs;
  configs.push_back({"ar-big", base, "ar-big"});
  configs.push_back({"ar-little", base, "ar-big"});
  configs.back().options.ar_model = decode::ModelRole::kLittle;
  for (int k : o.draft_max) {
    configs.push_back({fmt::format("spec-{}", k), base, "ar-big"});
    configs.back().options.mode = decode::Mode::kSpec;
    configs.back().options.draft_max = k;
  }
  for (const std::string& g : o.grid) {
    decode::DecodeOptions b = parse_bild(g, base, o.bild_steps);
    configs.push_back({bild_label(b, o.bild_steps), b, "ar-big"});
  }
  if (o.temperature > 0) {
    // Sampling rows: each compared with ar big sampling at the same temperature.
    decode::DecodeOptions sb = base;
    sb.sampling.temperature = o.temperature;
    const std::string t = fmt::format("@t{}", o.temperature);
    configs.push_back({"ar-big" + t, sb, "ar-big" + t});
    for (int k : o.draft_max) {
      configs.push_back({fmt::format("spec-{}", k) + t, sb, "ar-big" + t});
      configs.back().options.mode = decode::Mode::kSpec;
      configs.back().options.draft_max = k;
    }
    for (const std::string& g : o.sampling_grid) {
      decode::DecodeOptions b = parse_bild(g, sb, o.bild_steps);
      configs.push_back({bild_label(b, o.bild_steps) + t, b, "ar-big" + t});
    }
  }
  return configs;
}

nlohmann::json sizes_json(const std::map<int64_t, int64_t>& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, n] : m) j[std::to_string(k)] = n;
  return j;
}

nlohmann::json bench_speculative(const BenchOptions& o, ThreadPool& pool) {
  namespace fs = std::filesystem;
  auto big = Model::load(o.models.at(0));
  auto little = Model::load(o.draft);
  if (little->config().n_vocab != big->config().n_vocab)
    fail("{}: vocabulary of {} tokens, but {} has {}", o.draft, little->config().n_vocab,
         o.models[0], big->config().n_vocab);
  auto tok = Tokenizer::from_gguf(big->file());
  const int64_t n_ctx = std::min(big->config().n_ctx_train, little->config().n_ctx_train);
  KvCache bc = big->make_cache(n_ctx, 1), lc = little->make_cache(n_ctx, 1);
  decode::Driver driver(*big, bc, little.get(), &lc, pool);

  decode::DecodeOptions base;
  base.max_new_tokens = o.n_gen;
  base.n_ctx = n_ctx;
  for (int32_t t = 0; t < big->config().n_vocab; ++t)
    if (tok->is_end_of_generation(t)) base.stop_tokens.push_back(t);
  const std::vector<SpecConfig> configs = speculative_configs(o, base);

  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(o.prompts_dir))
    if (e.path().extension() == ".jsonl") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  if (files.empty()) fail("{}: no .jsonl prompt files", o.prompts_dir);

  nlohmann::json out = nlohmann::json::array();
  for (size_t fi = 0; fi < files.size(); ++fi) {
    const std::string& file = files[fi];
    const std::string domain = fs::path(file).stem().string();
    std::ifstream f(file);
    std::string line;
    for (int i = 0; i < o.per_domain && std::getline(f, line); ++i) {
      const nlohmann::json item = nlohmann::json::parse(line);
      const std::vector<int32_t> prompt =
          tok->encode(item.at("prompt").get<std::string>(), true, false);
      nlohmann::json row = {{"domain", domain},
                            {"index", i},
                            {"prompt_tokens", prompt.size()},
                            {"continuation", item.at("continuation")},
                            {"runs", nlohmann::json::object()}};
      Timer prompt_timer;
      for (const SpecConfig& c : configs) {
        decode::DecodeOptions opt = c.options;
        opt.sampling.seed = 1000003ull * (fi + 1) + static_cast<uint64_t>(i);  // same per prompt
        driver.reset_timing();
        auto s = decode::make_strategy(prompt, opt);
        // Prefill phase, then generation phase, timed apart (see request.h).
        Timer pt;
        for (auto r = s->next_request(); r && r->prefill; r = s->next_request()) driver.step(*s);
        const double prefill = pt.seconds();
        Timer gt;
        driver.run(*s);
        const double gen = gt.seconds();
        const decode::DecodeStats& st = s->stats();
        std::vector<int32_t> toks(s->generated().begin(), s->generated().end());
        using decode::ModelRole;
        row["runs"][c.label] = {
            {"seconds", prefill + gen},
            {"prefill_seconds", prefill},
            {"gen_seconds", gen},
            {"big_seconds", driver.seconds(ModelRole::kBig)},
            {"little_seconds", driver.seconds(ModelRole::kLittle)},
            {"big_gen_seconds", driver.seconds(ModelRole::kBig, false)},
            {"little_gen_seconds", driver.seconds(ModelRole::kLittle, false)},
            {"big_call_sizes", sizes_json(driver.call_sizes(ModelRole::kBig))},
            {"little_call_sizes", sizes_json(driver.call_sizes(ModelRole::kLittle))},
            {"tokens", toks},
            {"text", tok->decode(toks)},
            {"generated", st.generated},
            {"drafted", st.drafted},
            {"accepted", st.accepted},
            {"rounds", st.rounds},
            {"fallbacks", st.fallbacks},
            {"rollbacks", st.rollbacks},
            {"big_calls", st.big_calls},
            {"little_calls", st.little_calls},
            {"big_tokens", st.big_tokens},
            {"little_tokens", st.little_tokens},
        };
      }
      fmt::print(stderr, "{} {}: {} configs in {:.2f} s\n", domain, i, configs.size(),
                 prompt_timer.seconds());
      out.push_back(row);
    }
  }
  nlohmann::json cfg = nlohmann::json::array();
  for (const SpecConfig& c : configs)
    cfg.push_back({{"label", c.label},
                   {"mode", decode::mode_name(c.options.mode)},
                   {"model", decode::role_name(c.options.ar_model)},
                   {"draft_max", c.options.draft_max},
                   {"alpha_fb", c.options.alpha_fb},
                   {"alpha_rb", c.options.alpha_rb},
                   {"temperature", c.options.sampling.temperature},
                   {"baseline", c.baseline}});
  return {{"big", o.models[0]},    {"little", o.draft},
          {"gen_tokens", o.n_gen}, {"isa", std::string(kernels::isa_name(kernels::active_isa()))},
          {"configs", cfg},        {"prompts", out}};
}

// `--costs K`: the wall time of one forward of k = 1..K tokens through each
// model after a context of --cost-ctx tokens (the big model keeping every
// row's logits, as a verification does; the little one the last row's, as a
// draft step does): the cost table a speed-up projection needs. Repeats are
// interleaved over k (so drift hits every k alike); the median is reported.
nlohmann::json bench_costs(const BenchOptions& o, ThreadPool& pool) {
  nlohmann::json res = nlohmann::json::object();
  const std::pair<const char*, std::string> roles[] = {{"big", o.models.at(0)},
                                                       {"little", o.draft}};
  for (const auto& [role, path] : roles) {
    auto model = Model::load(path);
    const ModelConfig& c = model->config();
    KvCache cache = model->make_cache(o.cost_ctx + o.costs + 1, 1);
    std::mt19937 rng(42);
    auto random_tokens = [&](int64_t n) {
      std::vector<int32_t> t(n);
      for (auto& x : t) x = static_cast<int32_t>(rng() % c.n_vocab);
      return t;
    };
    ForwardOutput out;
    SequenceInput ctx{0, random_tokens(o.cost_ctx), {}};
    ForwardOptions pf;
    pf.logits = LogitsMode::kNone;
    model->forward(std::span<const SequenceInput>(&ctx, 1), cache, pf, out, pool);
    ForwardOptions fo;
    fo.logits = std::string(role) == "big" ? LogitsMode::kAll : LogitsMode::kLast;
    std::vector<std::vector<double>> ms(o.costs + 1);
    for (int r = -1; r < o.cost_repeats; ++r) {  // r = -1: warm-up
      for (int k = 1; k <= o.costs; ++k) {
        cache.truncate(0, o.cost_ctx);
        SequenceInput in{0, random_tokens(k), {}};
        Timer t;
        model->forward(std::span<const SequenceInput>(&in, 1), cache, fo, out, pool);
        if (r >= 0) ms[k].push_back(t.seconds() * 1e3);
      }
    }
    nlohmann::json med = nlohmann::json::object(), lo = nlohmann::json::object();
    for (int k = 1; k <= o.costs; ++k) {
      std::sort(ms[k].begin(), ms[k].end());
      med[std::to_string(k)] = ms[k][ms[k].size() / 2];
      lo[std::to_string(k)] = ms[k].front();
    }
    res[role] = {{"model", path},
                 {"dim", c.dim},
                 {"n_layer", c.n_layer},
                 {"n_vocab", c.n_vocab},
                 {"weight_bytes_per_token", model->weights().bytes_per_token()},
                 {"context", o.cost_ctx},
                 {"logits", std::string(role) == "big" ? "all rows" : "last row"},
                 {"repeats", o.cost_repeats},
                 {"ms_median", med},
                 {"ms_min", lo}};
    fmt::print(stderr, "{} {}: k=1 {:.2f} ms, k={} {:.2f} ms\n", role, path, med["1"].get<double>(),
               o.costs, med[std::to_string(o.costs)].get<double>());
  }
  return res;
}
}  // namespace

void register_bench(CLI::App& app, CommonOptions& common) {
  auto* cmd = app.add_subcommand(
      "bench", "Measure prompt and decode speed against the memory-bandwidth roofline");
  auto o = std::make_shared<BenchOptions>();
  cmd->add_option("-m,--model", o->models, "GGUF model(s)");
  auto tiers = std::make_shared<std::string>();
  cmd->add_option("--tiers", *tiers,
                  "Tier configuration: measure its profile instead (as `tandem router profile`; "
                  "with --json OUT, --prompts, --per-domain, -r)");
  cmd->add_option("-p,--prompt-tokens", o->n_prompt, "Prompt length for prompt processing")
      ->default_val(128)
      ->check(CLI::Range(1, 1 << 16));
  cmd->add_option("-n,--gen-tokens", o->n_gen, "Tokens to decode")
      ->default_val(32)
      ->check(CLI::Range(1, 1 << 16));
  cmd->add_option("-r,--repeats", o->repeats,
                  "Repeat each measurement (prompt: best; decode: median)")
      ->default_val(3)
      ->check(CLI::Range(1, 100));
  cmd->add_option("--json", o->json_path, "Also write the results as JSON to this file");
  cmd->add_option("-d,--draft", o->draft, "Little model: benchmark ar/spec/bild decoding instead");
  cmd->add_option("--prompts", o->prompts_dir, "With -d: directory of <domain>.jsonl prompts")
      ->default_val("bench/prompts");
  cmd->add_option("--per-domain", o->per_domain, "With -d: prompts per domain")
      ->default_val(10)
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--draft-max", o->draft_max, "With -d: spec drafts per verification (a row each)")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--bild-steps", o->bild_steps, "With -d: bild's most little steps")
      ->default_val(10)
      ->check(CLI::Range(1, 64));
  cmd->add_option("--grid", o->grid, "With -d: bild FALLBACK:ROLLBACK[:STEPS] entries");
  cmd->add_option("--temperature", o->temperature,
                  "With -d: also sampling rows (ar big, spec, --sampling-grid) at this temperature")
      ->check(CLI::Range(0.0, 10.0));
  cmd->add_option("--sampling-grid", o->sampling_grid,
                  "With -d and --temperature: bild FALLBACK:ROLLBACK[:STEPS] entries");
  cmd->add_option("--costs", o->costs,
                  "With -d: instead, time forwards of 1..N tokens through both models")
      ->check(CLI::Range(0, 64));
  cmd->add_option("--cost-ctx", o->cost_ctx, "With --costs: context before the timed forward")
      ->default_val(96)
      ->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--cost-repeats", o->cost_repeats, "With --costs: timed repeats (median)")
      ->default_val(7)
      ->check(CLI::Range(1, 1000));
  cmd->add_option("-t,--threads", common.threads, "Threads (default: all CPUs)");
  cmd->callback([o, tiers, &common] {
    if (!tiers->empty()) {
      profile_tiers(*tiers, o->prompts_dir, o->per_domain, o->repeats,
                    o->json_path.empty() ? "profile.json" : o->json_path, common);
      return;
    }
    if (o->models.empty()) fail("bench: give -m MODEL (or --tiers CONFIG)");
    const int threads = common.resolved_threads();
    ThreadPool pool(threads);
    if (!o->draft.empty()) {
      nlohmann::json r = o->costs > 0 ? bench_costs(*o, pool) : bench_speculative(*o, pool);
      r["command"] = common.command_line;
      r["threads"] = threads;
      const std::string path = o->json_path.empty() ? "speculative.json" : o->json_path;
      std::ofstream f(path);
      if (!f) fail("cannot write {}", path);
      // Generated text may end inside a UTF-8 sequence: invalid bytes become U+FFFD.
      f << r.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      fmt::print("wrote {}\n", path);
      return;
    }
    // The packed Q4_0/Q8_0 dot products use VNNI + GFNI only on the AVX-512 table.
    const bool vnni =
        kernels::active_isa() == kernels::Isa::kAvx512 && kernels::has_avx512_vnni_gfni();
    const std::string isa =
        fmt::format("{}{}", kernels::isa_name(kernels::active_isa()), vnni ? "+vnni+gfni" : "");
    const bool huge = BigBuffer::huge_pages_usable();
    fmt::print("threads {}  isa {}  huge pages {}\n", threads, isa, huge ? "on" : "off");
    fmt::print("{:<40} {:>10} {:>11} {:>11} {:>9} {:>11} {:>9} {:>9}\n", "model", "MiB/token",
               "pp tok/s", "decode t/s", "GB/s", "roofline", "ratio", "pp/dec");
    nlohmann::json results = nlohmann::json::array();
    for (size_t i = 0; i < o->models.size(); ++i) {
      fmt::print(stderr, "[{}/{}] {}\n", i + 1, o->models.size(), o->models[i]);
      nlohmann::json r = bench_model(o->models[i], *o, pool);
      fmt::print("{:<40} {:>10.1f} {:>11.2f} {:>11.2f} {:>9.2f} {:>11.2f} {:>8.1f}% {:>8.2f}x\n",
                 o->models[i], r["bytes_per_token"].get<double>() / 1048576.0,
                 r["prompt_tok_per_s"].get<double>(), r["decode_tok_per_s"].get<double>(),
                 r["bandwidth_bytes_per_s"].get<double>() / 1e9,
                 r["roofline_tok_per_s"].get<double>(),
                 100.0 * r["decode_roofline_ratio"].get<double>(),
                 r["prompt_over_decode_per_token"].get<double>());
      results.push_back(r);
    }
    if (!o->json_path.empty()) {
      nlohmann::json doc = {{"command", common.command_line},
                            {"threads", threads},
                            {"isa", isa},
                            {"huge_pages", huge},
                            {"results", results}};
      std::ofstream f(o->json_path);
      if (!f) fail("cannot write {}", o->json_path);
      f << doc.dump(2) << "\n";
    }
  });
}

}  // namespace tandem::cli
