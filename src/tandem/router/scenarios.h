// Workload scenarios for training and evaluating the router, scaled to a
// Profile: rates are multiples of the best tier's or of the fastest tier's
// capacity (requests/s a tier sustains alone with every slot busy), deadlines
// multiples of the best tier's unloaded latency. Training sees Poisson and on/off bursty arrivals
// with a uniform task mix; evaluation holds out seeds and adds what training never sees:
// heavy-tailed bursts and diurnal waves (arrival-pattern shift) and a task
// mix that changes mid-run (task-mix shift: between the first and last domain,
// and from the domain where the fastest tier comes closest to the best tier's
// quality to the one where it falls furthest behind). Training also varies output
// lengths and has some episodes without deadlines.
// Thread safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "tandem/loadgen/arrival.h"
#include "tandem/sim/simulator.h"

namespace tandem::router {

struct Scale {
  double mean_prompt = 64, mean_output = 48;
  std::vector<double> capacity_rps;  // per tier, alone, all slots busy
  double fastest_rps = 0;            // the highest of them
  double unloaded_s = 1;             // best tier, one mean request, empty server
  double deadline_lo_s = 2, deadline_hi_s = 4;
};

struct ScenarioOptions {
  loadgen::IntRange prompt_tokens{32, 96};
  loadgen::IntRange max_tokens{32, 64};
  double deadline_lo = 3, deadline_hi = 6;  // x unloaded latency of the best tier
  double rate_lo = 0.1;  // training rates from rate_lo x the best tier's capacity
  double rate_hi = 1.5;  // to rate_hi x the fastest tier's capacity (log-uniform)
  double episode_s = 60;
  double no_deadline_share = 0.15;  // training episodes whose requests have no deadline
  // Training episodes whose task mix is skewed (one random domain 2-8x as frequent as each
  // other one) instead of uniform; 0 keeps every episode uniform.
  double skewed_mix_share = 0;
};

Scale workload_scale(const sim::Profile& p, const sim::SimOptions& sim, const ScenarioOptions& o);

// Server seconds one request costs tier `t` at full batching (`slots` sequences running):
// what Scale::capacity_rps inverts for a mean request.
double request_seconds(const sim::TierProfile& t, int slots, double prompt_tokens,
                       double output_tokens);

// Index of the tier with the highest capacity.
int fastest_tier(const Scale& s);

// A training workload for `episode`, drawn from `rng`; `domains` name the tasks of a skewed mix.
sim::WorkloadSpec training_workload(const Scale& s, const ScenarioOptions& o,
                                    const std::vector<std::string>& domains, loadgen::Rng& rng);

struct NamedWorkload {
  std::string name;
  std::string shift;  // "none", "arrival", "task-mix"
  sim::WorkloadSpec spec;
};
// Held-out evaluation workloads (seeds disjoint from training's) for profile `p`.
std::vector<NamedWorkload> eval_workloads(const Scale& s, const ScenarioOptions& o,
                                          const sim::Profile& p, uint64_t seed, double duration_s);

// p's domains ordered by the fastest tier's quality as a fraction of the peak,
// highest first (ties keep the profile's order).
std::vector<std::string> domains_by_fastest_tier_quality(const Scale& s, const sim::Profile& p);

}  // namespace tandem::router
