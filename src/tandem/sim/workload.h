// Simulated workloads: arrival times (any loadgen arrival process, plus the
// heavy-tailed burst process below), a task mix that can shift over time, and
// per-request sizes and deadlines. Deterministic in the seed.
//
// Arrival specs: everything loadgen::parse_arrival accepts, plus
//   heavy:rate=R[,alpha=A][,burst=B][,spread=S]
//       serverless-style heavy-tailed bursts: bursts start as a Poisson process
//       at R/B per second; a burst holds a Pareto(alpha) number of requests with
//       mean B (alpha > 1, default 1.5; B default 8), spread uniformly over S
//       seconds (default 1). Long-run mean rate R.
//   trace:FILE          a loadgen trace file: "t", "domain"/"task", and where
//                       present "max_tokens", "deadline_ms" and "prompt_tokens"
//                       (else prompt sizes come from the WorkloadSpec).
// Task-mix specs (parse_task_mix), phases separated by '|', each but the first
// starting at "@T" seconds:
//   "uniform"                               every domain equally
//   "pydoc=4,perldoc=1"                     weights (unnamed domains: 0)
//   "uniform|pydoc=4,bible=1@60"            uniform, then from 60 s that mix
// Thread safety: plain values; HeavyTailArrival is immutable.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/loadgen/arrival.h"
#include "tandem/loadgen/workload.h"

namespace tandem::sim {

class HeavyTailArrival final : public loadgen::ArrivalProcess {
 public:
  HeavyTailArrival(double rate, double alpha, double burst, double spread);
  std::vector<double> generate(double duration, loadgen::Rng& rng) const override;
  double rate_at(double) const override { return rate_; }
  double expected_count(double duration) const override { return rate_ * duration; }
  std::string spec() const override;

 private:
  double rate_, alpha_, burst_, spread_;
};

// loadgen::parse_arrival plus "heavy:". ("trace:" is handled by make_workload.)
std::unique_ptr<loadgen::ArrivalProcess> parse_sim_arrival(std::string_view spec);

struct MixPhase {
  double start_s = 0;
  std::vector<double> weights;  // per domain, summing to 1
};
std::vector<MixPhase> parse_task_mix(std::string_view spec,
                                     const std::vector<std::string>& domains);

struct SimRequest {
  int64_t id = 0;  // index in the workload
  double t = 0;    // arrival, seconds from the start
  int domain = 0;  // index into the profile's domains
  int64_t prompt_tokens = 48;
  int64_t max_tokens = 48;
  double deadline_s = 0;  // 0 = none
};

struct WorkloadSpec {
  std::string arrival = "poisson:rate=2";
  double duration_s = 60;
  std::string mix = "uniform";
  loadgen::IntRange prompt_tokens{32, 96};
  loadgen::IntRange max_tokens{32, 64};
  loadgen::IntRange deadline_ms{0, 0};  // 0 = no deadline
  uint64_t seed = 1;
};

std::vector<SimRequest> make_workload(const WorkloadSpec& spec,
                                      const std::vector<std::string>& domains);

}  // namespace tandem::sim
