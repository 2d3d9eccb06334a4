// `tandem router ...`: the learned best-effort router.
//   profile  measure a tier profile: model forward costs, engine overhead, decode pattern and
//            ROUGE-L quality per tier (also `tandem bench --tiers CONFIG`)
//   sim      one simulated run of one policy on one workload
//   train    Double DQN against the simulator -> a policy file for `serve --policy learned:FILE`
//   eval     learned vs every static policy on held-out workloads -> table, JSON, PNG
// See src/tandem/sim/ and src/tandem/router/.
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include "cli/commands.h"
#include "tandem/base/error.h"
#include "tandem/base/progress.h"
#include "tandem/router/dqn.h"
#include "tandem/router/eval.h"
#include "tandem/router/policy_file.h"
#include "tandem/router/scenarios.h"
#include "tandem/serve/policy.h"
#include "tandem/serve/tiers.h"
#include "tandem/sim/profiler.h"
#include "tandem/sim/simulator.h"

namespace tandem::cli {
namespace {

std::string default_queue_spec(size_t tiers) {
  const int64_t th[] = {4, 12, 24, 48, 96, 192, 384};
  std::string s = "queue:";
  for (size_t i = 0; i + 1 < tiers && i < 7; ++i) s += fmt::format("{}{}", i ? "," : "", th[i]);
  return s;
}

// Every single tier, then the queue-threshold heuristic (`queue`, or the default
// thresholds when empty): the static policies a learned router is compared with.
std::vector<std::shared_ptr<serve::Policy>> static_policies(const sim::Profile& p,
                                                            const std::string& queue = "") {
  const auto specs = sim::policy_tiers(p);
  std::vector<std::shared_ptr<serve::Policy>> pols;
  for (const auto& t : p.tiers) pols.push_back(serve::make_policy("fixed:" + t.name, specs));
  if (p.tiers.size() > 1)
    pols.push_back(
        serve::make_policy(queue.empty() ? default_queue_spec(p.tiers.size()) : queue, specs));
  return pols;
}

sim::DeadlineMode parse_mode(const std::string& m) {
  if (m == "hard") return sim::DeadlineMode::kHard;
  if (m == "soft") return sim::DeadlineMode::kSoft;
  fail("--mode must be hard or soft, got '{}'", m);
}

void write_json(const std::string& path, const nlohmann::json& j) {
  std::ofstream f(path);
  if (!f) fail("{}: cannot write", path);
  f << j.dump(1) << "\n";
}

void plot(const std::string& python, const std::string& mode, const std::string& json,
          const std::string& png) {
  router::run_plot(python, mode, json, png);
  fmt::print("wrote {}\n", png);
}

struct SimFlags {
  int slots = 8;
  int64_t max_queued = 64;
  std::string mode = "hard";
  sim::SimOptions get() const {
    sim::SimOptions o;
    o.slots = slots;
    o.max_queued_requests = max_queued;
    o.mode = parse_mode(mode);
    return o;
  }
};

// One JSON line per simulated request, in the workload's order; latency_ms is
// null for requests never answered (rejected, queue full, dropped at the deadline).
void write_request_results(const std::string& path, const sim::Profile& p,
                           const std::vector<sim::SimRequest>& reqs,
                           const std::vector<sim::RequestResult>& results) {
  std::ofstream f(path);
  if (!f) fail("cannot write {}: check the directory exists and is writable", path);
  for (size_t i = 0; i < results.size(); ++i) {
    const sim::RequestResult& r = results[i];
    nlohmann::json j = {
        {"id", r.id},
        {"t", r.t},
        {"task", p.domains[r.domain]},
        {"tier", r.tier >= 0 ? nlohmann::json(p.tiers[r.tier].name) : nlohmann::json(nullptr)},
        {"outcome", sim::outcome_name(r.outcome)},
        {"latency_ms", r.latency_s >= 0 ? nlohmann::json(1000 * r.latency_s) : nullptr},
        {"deadline_ms", 1000 * r.deadline_s},
        {"prompt_tokens", reqs[i].prompt_tokens},
        {"max_tokens", reqs[i].max_tokens}};
    f << j.dump() << '\n';
  }
  if (!f) fail("writing {} failed (disk full?)", path);
}

void add_sim_flags(CLI::App* c, SimFlags& f) {
  c->add_option("--slots", f.slots, "engine slots (concurrent sequences)");
  c->add_option("--max-queued", f.max_queued, "queue bound in requests (429 beyond)");
  c->add_option("--mode", f.mode, "deadline mode: hard (drop late work) or soft");
}

void run_profile(const std::string& config, sim::ProfilerOptions o, const std::string& out,
                 const CommonOptions& common) {
  o.engine.threads = common.resolved_threads();
  const serve::ServeConfig cfg = serve::load_serve_config(config);
  sim::Profile p =
      sim::measure_profile(cfg, o, [](const std::string& s) { fmt::print(stderr, "{}\n", s); });
  p.note = fmt::format("measured by `{}` with {} threads; {}", common.command_line,
                       o.engine.threads, p.note);
  sim::save_profile(out, p);
  fmt::print("wrote {}\n", out);
  for (const sim::TierProfile& t : p.tiers)
    fmt::print(
        "{:<12} {:>8.3f} ms/token alone, +{:.3f} ms per further sequence, {:.3f} ms per "
        "prompt token\n",
        t.name, t.step_base_s * 1e3, t.step_per_seq_s * 1e3, t.prefill_token_s * 1e3);
}

}  // namespace

void profile_tiers(const std::string& config, const std::string& prompts, int per_domain,
                   int repeats, const std::string& out, const CommonOptions& common) {
  sim::ProfilerOptions o;
  o.prompts_dir = prompts;
  o.prompts_per_domain = per_domain;
  o.repeats = repeats;
  run_profile(config, o, out, common);
}

void register_router(CLI::App& app, CommonOptions& common) {
  CLI::App* router =
      app.add_subcommand("router", "learned best-effort router: profile, sim, train, eval");
  router->require_subcommand(1);

  // ---- profile
  {
    auto o = std::make_shared<sim::ProfilerOptions>();
    auto config = std::make_shared<std::string>();
    auto out = std::make_shared<std::string>();
    CLI::App* c =
        router->add_subcommand("profile", "measure tier service times and quality on the engine");
    c->add_option("--config", *config, "tiers configuration (JSON)")->required();
    c->add_option("--prompts", o->prompts_dir, "prompt folder (<domain>.jsonl with continuations)");
    c->add_option("--out", *out, "profile JSON to write")->required();
    c->add_option("--per-domain", o->prompts_per_domain, "prompts per domain for quality");
    c->add_option("--tokens", o->quality_tokens, "tokens generated per quality prompt");
    c->add_option("--timing-tokens", o->timing_tokens, "tokens per timing request");
    c->add_option("--batch", o->batch, "concurrent requests of the batched timing point");
    c->add_option("--repeats", o->repeats, "forwards per point per round (the mean is kept)");
    c->add_option("--rounds", o->min_rounds, "rounds over all forward points, at least");
    c->add_option(
        "--forward-seconds", o->min_seconds,
        "seconds per model spent on the forward table, at least (rounds go on until both hold)");
    c->add_option("--slots", o->engine.slots, "engine slots (sequences per forward at most)");
    c->add_option("-t,--threads", common.threads, "Threads (default: all CPUs)");
    c->callback([o, config, out, &common] { run_profile(*config, *o, *out, common); });
  }

  // ---- sim
  {
    auto profile = std::make_shared<std::string>();
    auto policy = std::make_shared<std::string>("fixed:0");
    auto w = std::make_shared<sim::WorkloadSpec>();
    auto flags = std::make_shared<SimFlags>();
    auto deadline = std::make_shared<std::string>("0");
    auto duration = std::make_shared<std::string>("60s");
    CLI::App* c = router->add_subcommand("sim", "simulate one policy on one workload");
    c->add_option("--profile", *profile, "profile JSON")->required();
    c->add_option("--policy", *policy, "fixed:<tier>, queue:<n,...> or learned:<file>")->required();
    c->add_option("--arrival", w->arrival, "arrival spec (loadgen grammar, heavy:, trace:FILE)");
    c->add_option("--mix", w->mix, "task mix, e.g. uniform or 'a=3,b=1|b=1@60'");
    c->add_option("--duration", *duration, "simulated time");
    c->add_option("--deadline-ms", *deadline, "deadline, fixed or lo-hi (0 = none)");
    c->add_option("--seed", w->seed, "workload seed");
    auto prompt = std::make_shared<std::string>("32-96");
    auto maxtok = std::make_shared<std::string>("32-64");
    c->add_option("--prompt-tokens", *prompt, "prompt tokens, fixed or lo-hi");
    c->add_option("--max-tokens", *maxtok, "output tokens, fixed or lo-hi (a trace's own win)");
    auto routing = std::make_shared<double>(-1);
    c->add_option("--routing-deadline-ms", *routing,
                  "deadline the policy is shown for requests without one, as `tandem serve "
                  "--routing-deadline-ms` (default -1 = auto: the policy's own; 0 = none)");
    auto requests_json = std::make_shared<std::string>();
    c->add_option("--requests-json", *requests_json,
                  "also write one JSON line per request (arrival, task, tier, outcome, latency), "
                  "as `tandem loadgen --json-requests` does for a live run");
    add_sim_flags(c, *flags);
    c->callback([=] {
      const sim::Profile p = sim::load_profile(*profile);
      w->duration_s = loadgen::parse_duration(*duration, "--duration");
      w->deadline_ms = loadgen::IntRange::parse(*deadline, "--deadline-ms");
      w->prompt_tokens = loadgen::IntRange::parse(*prompt, "--prompt-tokens");
      w->max_tokens = loadgen::IntRange::parse(*maxtok, "--max-tokens");
      const auto pol = serve::make_policy(*policy, sim::policy_tiers(p));
      const auto reqs = sim::make_workload(*w, p.domains);
      sim::SimOptions so = flags->get();
      so.routing_deadline_s =
          serve::resolve_routing_deadline(*routing < 0 ? -1 : *routing / 1000, *pol);
      const std::vector<sim::RequestResult> results = sim::simulate(p, so, reqs, *pol);
      if (!requests_json->empty()) write_request_results(*requests_json, p, reqs, results);
      const auto m = sim::summarize(p, results, 10, w->duration_s);
      fmt::print(
          "{}: {} requests, availability {:.1f}%, quality {:.1f}% of peak, windows >=96%: "
          "{:.1f}%, >=98%: {:.1f}%, mean latency {:.4f} s, p99 {:.4f} s\n",
          pol->name(), m.requests, 100 * m.availability, 100 * m.quality_frac, 100 * m.windows_96,
          100 * m.windows_98, m.mean_latency_s, m.p99_latency_s);
      for (size_t t = 0; t < m.tier_share.size(); ++t)
        fmt::print("  {:<12} {:5.1f}%\n", t < p.tiers.size() ? p.tiers[t].name : "rejected",
                   100 * m.tier_share[t]);
    });
  }

  // ---- train
  {
    auto profile = std::make_shared<std::string>();
    auto out = std::make_shared<std::string>();
    auto curve = std::make_shared<std::string>();
    auto png = std::make_shared<std::string>();
    auto all_out = std::make_shared<std::string>();
    auto python = std::make_shared<std::string>("/usr/bin/python3");
    auto o = std::make_shared<router::TrainOptions>();
    auto scen = std::make_shared<router::ScenarioOptions>();
    auto flags = std::make_shared<SimFlags>();
    auto seeds = std::make_shared<int>(1);
    auto val = std::make_shared<router::EvalOptions>();
    val->seed = 777;
    val->ceilings = false;  // the selection score does not read them
    o->val_every = 10;
    CLI::App* c = router->add_subcommand("train", "train the router (Double DQN) in the simulator");
    c->add_option("--profile", *profile, "profile JSON")->required();
    c->add_option("--out", *out, "policy file to write (the validation-best seed's)")->required();
    c->add_option("--episodes", o->episodes, "simulated episodes");
    c->add_option("--episode-s", scen->episode_s, "simulated seconds per episode");
    c->add_option("--skewed-mix-share", scen->skewed_mix_share,
                  "share of training episodes with a skewed task mix (default 0: all uniform)");
    c->add_option("--seed", o->seed,
                  "seed (network, exploration, workloads); the first of --seeds");
    c->add_option("--seeds", *seeds,
                  "train seeds --seed .. --seed+N-1, keep the one that scores best on validation");
    c->add_option("--val-seed", val->seed,
                  "validation workloads' seed (model selection; never the held-out seed)");
    c->add_option("--val-every", o->val_every,
                  "episodes between validations of the greedy policy (0: keep the last net)");
    c->add_option("--val-from", o->val_from, "first validation at this fraction of the episodes");
    c->add_option("--val-duration", val->duration_s, "seconds per validation workload");
    c->add_option("--val-sweep-s", val->sweep_duration_s,
                  "seconds per rate of the validation max-rate sweep");
    c->add_option("--rate-step", val->sweep_step, "max-rate grid step of the validation sweep");
    c->add_option("--gamma", o->gamma, "discount between consecutive decisions");
    c->add_option("--lr", o->lr, "Adam learning rate");
    c->add_option("--lr-end", o->lr_end,
                  "learning rate of the last episode (linear decay from --lr; default constant)");
    c->add_option("--hidden", o->hidden1, "hidden width (both layers)");
    c->add_option("--rate-max", scen->rate_hi,
                  "highest training rate, x the fastest tier's capacity");
    c->add_flag("--reject", o->reject, "offer 'reject now' as an action");
    c->add_option("--miss-penalty", o->miss_penalty, "reward of a missed deadline / 429");
    c->add_option("--target-sync", o->target_sync, "updates between target-network copies");
    c->add_option("--batch", o->batch, "minibatch size");
    c->add_option("--curve", *curve, "learning-curve JSON to write (every seed's validations)");
    c->add_option("--plot", *png, "learning-curve PNG to write (needs --curve)");
    c->add_option("--all-out", *all_out, "also write every seed's policy to PREFIX.seed<N>.json");
    c->add_option("--python", *python, "python with matplotlib");
    add_sim_flags(c, *flags);
    c->callback([=] {
      const sim::Profile p = sim::load_profile(*profile);
      o->hidden2 = o->hidden1;
      o->sim = flags->get();
      const router::Scale scale = router::workload_scale(p, o->sim, *scen);
      fmt::print(stderr, "best tier '{}' sustains ~{:.2f} req/s alone; deadlines {:.2f}-{:.2f} s\n",
                 p.tiers.front().name, scale.capacity_rps.front(), scale.deadline_lo_s,
                 scale.deadline_hi_s);
      // Validation: the static policies once, then each checkpoint alone.
      const router::EvalReport val_statics =
          router::evaluate(p, o->sim, *scen, *val, static_policies(p));
      const router::Validator validator = [&](const router::LearnedPolicy& pol) {
        const std::shared_ptr<serve::Policy> one = std::make_shared<router::LearnedPolicy>(pol);
        const auto s =
            router::selection_score(val_statics, router::evaluate(p, o->sim, *scen, *val, {one}));
        return router::Validation{s.score, s.to_json()};
      };
      Progress bar("training", static_cast<int64_t>(o->episodes) * *seeds);
      const auto all = router::train_seeds(
          p, *o, *seeds,
          [&](int, loadgen::Rng& rng) {
            return router::training_workload(scale, *scen, p.domains, rng);
          },
          validator,
          [&](int k, const router::EpisodeStats& s) {
            bar.update(static_cast<int64_t>(k) * o->episodes + s.episode + 1);
          });
      bar.finish();
      nlohmann::json seeds_json = nlohmann::json::array();
      for (size_t k = 0; k < all.runs.size(); ++k) {
        const router::TrainResult& r = all.runs[k];
        const auto& last = r.curve.back();
        nlohmann::json sj = {{"seed", r.seed}, {"selected", k == all.best}};
        if (const router::Checkpoint* bp = r.best_checkpoint()) {
          const router::Checkpoint& b = *bp;
          const router::Checkpoint& f = r.checkpoints.back();
          sj["best_episode"] = b.episode;
          sj["best"] = b.v.detail;
          sj["last"] = f.v.detail;
          sj["checkpoints"] = router::checkpoints_to_json(r.checkpoints);
          fmt::print(
              "seed {}{}: validation score {:.3f} at episode {} (max rate {:.1f}x, >=96 % share "
              "{:.2f}x, worst workload {:.2f}x, dominated on {}); last episode's net {:.3f}\n",
              r.seed, k == all.best ? " (selected)" : "", b.v.score, b.episode + 1,
              b.v.detail.value("rate_x", 0.0), b.v.detail.value("share_x", 0.0),
              b.v.detail.value("worst_share_x", 0.0), b.v.detail.value("dominated", 0), f.v.score);
        } else {
          fmt::print(
              "seed {}: last episode: reward {:.3f}, availability {:.1f}%, quality {:.1f}%\n",
              r.seed, last.mean_reward, 100 * last.availability, 100 * last.quality_frac);
        }
        seeds_json.push_back(sj);
      }
      const router::TrainResult& best = all.runs[all.best];
      nlohmann::json meta = {{"command", common.command_line},
                             {"profile", *profile},
                             {"episodes", o->episodes},
                             {"seed", best.seed},
                             {"seeds_tried", *seeds},
                             {"validation_seed", val->seed},
                             {"best_episode", best.best_episode()},
                             {"gamma", o->gamma},
                             {"lr", o->lr},
                             {"lr_end", o->lr_end},
                             {"miss_penalty", o->miss_penalty},
                             {"validation",
                              {{"seed", val->seed},
                               {"every", o->val_every},
                               {"from", o->val_from},
                               {"duration_s", val->duration_s},
                               {"sweep_s", val->sweep_duration_s},
                               {"rate_step", val->sweep_step}}},
                             {"mode", flags->mode}};
      // The policy file records the training deadlines (the server's default routing
      // deadline for requests without one is their middle).
      const auto recorded = [&](router::FeatureLayout l) {
        l.deadline_lo_s = scale.deadline_lo_s;
        l.deadline_hi_s = scale.deadline_hi_s;
        return l;
      };
      router::save_policy(*out, recorded(best.layout), best.net, meta);
      fmt::print("wrote {}\n", *out);
      if (!all_out->empty())
        for (const router::TrainResult& r : all.runs) {
          nlohmann::json m = meta;
          m["seed"] = r.seed;
          m["best_episode"] = r.best_episode();
          const std::string path = fmt::format("{}.seed{}.json", *all_out, r.seed);
          router::save_policy(path, recorded(r.layout), r.net, m);
          fmt::print("wrote {}\n", path);
        }
      if (!curve->empty()) {
        write_json(*curve, {{"meta", meta},
                            {"curve", router::curve_to_json(best.curve)},
                            {"validation", router::checkpoints_to_json(best.checkpoints)},
                            {"seeds", seeds_json}});
        fmt::print("wrote {}\n", *curve);
        if (!png->empty()) plot(*python, "curve", *curve, *png);
      }
    });
  }

  // ---- eval
  {
    auto profile = std::make_shared<std::string>();
    auto policies = std::make_shared<std::vector<std::string>>();
    auto queue = std::make_shared<std::string>();
    auto json = std::make_shared<std::string>();
    auto png = std::make_shared<std::string>();
    auto python = std::make_shared<std::string>("/usr/bin/python3");
    auto o = std::make_shared<router::EvalOptions>();
    auto scen = std::make_shared<router::ScenarioOptions>();
    auto flags = std::make_shared<SimFlags>();
    CLI::App* c =
        router->add_subcommand("eval", "learned vs static policies on held-out workloads");
    c->add_option("--profile", *profile, "profile JSON")->required();
    c->add_option("--policy", *policies,
                  "policy specs to compare besides the static ones (learned:FILE)");
    c->add_option("--queue", *queue, "queue-threshold heuristic (default queue:4,12,24,...)");
    c->add_option("--duration", o->duration_s, "seconds per held-out workload");
    c->add_option("--seed", o->seed, "evaluation seed");
    c->add_option("--rate-step", o->sweep_step, "max-rate grid step (x per grid point)");
    c->add_option("--json", *json, "report JSON to write");
    c->add_option("--plot", *png, "PNG to write (needs --json)");
    c->add_option("--python", *python, "python with matplotlib");
    add_sim_flags(c, *flags);
    c->callback([=] {
      const sim::Profile p = sim::load_profile(*profile);
      const auto specs = sim::policy_tiers(p);
      std::vector<std::shared_ptr<serve::Policy>> pols = static_policies(p, *queue);
      for (const auto& s : *policies) pols.push_back(serve::make_policy(s, specs));
      const auto rep = router::evaluate(p, flags->get(), *scen, *o, pols);
      fmt::print("{}", router::report_table(rep));
      fmt::print(
          "(avail = answered within deadline; qual = mean quality % of peak; >=96/>=98 = "
          "share of {} s windows at that % of peak; max rate: Poisson, x = vs {})\n",
          o->window_s, rep.policies.front());
      if (!json->empty()) {
        write_json(*json, router::report_json(rep));
        fmt::print("wrote {}\n", *json);
        if (!png->empty()) plot(*python, "eval", *json, *png);
      }
    });
  }
}

}  // namespace tandem::cli
