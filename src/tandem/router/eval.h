// Router evaluation: every policy on every held-out workload in the
// simulator, plus the highest Poisson rate each keeps availability >= 99 % at
// (rates on a geometric grid of multiples of the best tier's capacity; the
// answer is the highest grid rate below which every grid rate passes).
// Results as a table (text) and JSON (with per-window series for plots).
// Thread safety: pure functions of their inputs.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "tandem/router/scenarios.h"
#include "tandem/serve/policy.h"

namespace tandem::router {

struct EvalCell {
  std::string policy, workload, shift;
  sim::SimMetrics m;
};

struct EvalReport {
  std::vector<std::string> policies;
  std::vector<std::string> tiers;
  std::vector<EvalCell> cells;
  std::vector<double> max_rate_rps;  // per policy
  double big_capacity_rps = 0;
  // Per workload (in cells' order): ceiling_96() of its requests, if EvalOptions::ceilings.
  std::vector<std::pair<std::string, double>> ceilings_96;
};

// A ceiling on the share of `window_s` windows that any policy can keep at >= 96 % of
// peak on `reqs` (windows by arrival; those without arrivals left out, as sim::summarize).
// Every request is taken as served on time, by the fastest tier (scale's highest capacity)
// unless upgraded to another tier; a request costs a tier its tokens at full-batch
// throughput (the costs behind Scale::capacity_rps); an upgrade gains the best other
// tier's quality and costs the cheapest other tier's extra server time. In a window, the
// requests arriving within any interval [a, b) must be served within [a, b + the longest
// deadline); the least bound over intervals on a window_s / 20 grid, each a fractional
// knapsack with every other request upgraded for free, caps the window's quality. Every
// relaxation raises the ceiling, so no policy holds more windows in the simulator's cost
// model; it shows how far a workload's >= 96 % share can go at all.
double ceiling_96(const sim::Profile& profile, const Scale& scale, int slots,
                  const std::vector<sim::SimRequest>& reqs, double window_s, double duration_s);

struct EvalOptions {
  double duration_s = 120;
  double sweep_duration_s = 60;
  uint64_t seed = 424242;
  double window_s = 10;
  double sweep_lo = 0.25, sweep_hi = 64, sweep_step = 1.25;  // x capacity of the best tier
  bool ceilings = true;  // fill EvalReport::ceilings_96 (model selection does not read them)
};

EvalReport evaluate(const sim::Profile& profile, const sim::SimOptions& sim,
                    const ScenarioOptions& scen, const EvalOptions& o,
                    const std::vector<std::shared_ptr<serve::Policy>>& policies);

// Model selection on the validation workloads (the same families as the
// held-out ones, another seed). `statics` is evaluate() of the static
// policies (statics.policies[0] = the best tier's, the reference), `one` of the
// candidate alone, both with the same options. With
//   rate_x  = max rate @99 % / the reference's             (target >= 5)
//   share_x = pooled >=96 % window share / the reference's  (target >= 2)
//   worst_share_x = the lowest per-workload >=96 % ratio    (0 vs 0 counts as 1,
//                   more than 0 vs 0 as 4)
//   dominated = workloads where some static policy has both higher
//               availability and a higher >=96 % share
// score = min(1, rate_x / 5) + min(1, share_x / 2) + 0.5 min(1, worst_share_x / 2)
//         + 0.05 (min(rate_x, 10) / 10 + min(share_x, 4) / 4) - 0.25 dominated:
// first reach the targets, then go beyond them a little.
struct SelectionScore {
  double score = 0, rate_x = 0, share_x = 0, worst_share_x = 0;
  int dominated = 0;
  double max_rate_rps = 0, pooled_96 = 0;
  nlohmann::json to_json() const;
};
SelectionScore selection_score(const EvalReport& statics, const EvalReport& one);

// Share of all windows of all workloads at >= 96 % / >= 98 % of peak, for `policy`.
std::pair<double, double> pooled_windows(const EvalReport& r, const std::string& policy);
std::string report_table(const EvalReport& r);
nlohmann::json report_json(const EvalReport& r);

// Runs bench/router_plot.py MODE JSON PNG (MODE: curve or eval) with `python`;
// throws tandem::Error if it fails.
void run_plot(const std::string& python, const std::string& mode, const std::string& json,
              const std::string& png);

}  // namespace tandem::router
