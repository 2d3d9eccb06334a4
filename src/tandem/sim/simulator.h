// Simulator — a deterministic discrete-event model of `tandem serve`'s Engine:
// a bounded FIFO queue (max requests / max tokens -> 429 queue_full), `slots`
// sequences advanced together by continuous batching (every running sequence
// one token per iteration; prompts prefilled in chunks of prefill_chunk within
// a per-iteration token budget that decodes get first), iteration times from a
// Profile (version 2: each model charged for the tokens it is fed, speculative
// tiers one draft-verify cycle per iteration with their drafts as sub-steps and
// their measured tokens per cycle, prompts read by the big model then the
// little one; see profile.h), and deadlines:
//   hard mode: as the Engine — a queued request that can no longer meet its
//              deadline (waited + its tier's prompt cost > deadline: the tier's
//              models' prompt reading, as the Engine's per-model estimates) and a
//              running one whose deadline has passed are dropped (408);
//   soft mode: nothing is dropped; late answers are delivered late.
// The Policy (serve::Policy, the same objects as the live server) is asked at
// each arrival, with the same LoadState fields the Engine reports (the arrival
// rate is the Engine's EWMA: rate <- rate * exp(-dt / 10 s) + 0.1).
// Every request ends in exactly one Outcome. Quality is credited only to
// answers within their deadline (no deadline: always).
// Determinism: no clocks, no randomness; the same inputs give the same results
// (workloads carry their own seeds).
// Thread safety: run() is a pure function; an Observer is called from the
// calling thread only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tandem/serve/policy.h"
#include "tandem/sim/profile.h"
#include "tandem/sim/workload.h"

namespace tandem::sim {

enum class DeadlineMode { kHard, kSoft };
enum class Outcome { kOnTime, kLate, kDropped, kQueueFull, kRejected };
const char* outcome_name(Outcome o);

struct SimOptions {
  int slots = 8;
  int64_t max_queued_requests = 64;
  int64_t max_queued_tokens = 1 << 16;
  int64_t prefill_chunk = 128;
  int64_t batch_tokens = 256;
  DeadlineMode mode = DeadlineMode::kHard;
  // Deadline the policy is shown for requests without one, as the Engine's
  // EngineOptions::routing_deadline_s (routing only; such a request still has
  // no deadline): 0 none, > 0 seconds. Training leaves it 0.
  double routing_deadline_s = 0;
};

struct RequestResult {
  int64_t id = 0;
  double t = 0;  // arrival
  int domain = 0;
  int tier = -1;  // the policy's choice (-1: rejected)
  Outcome outcome = Outcome::kRejected;
  double latency_s = -1;  // arrival to last token; -1 when never answered
  double quality = 0;     // tier quality if on time, else 0
  double peak = 0;        // the profile's best quality for the domain
  double deadline_s = 0;
};

// Hooks for training: decisions as they happen, results as they are known.
class Observer {
 public:
  virtual ~Observer() = default;
  virtual void on_decision(const SimRequest& r, const serve::RequestFeatures& f,
                           const serve::LoadState& load, int action) {}
  virtual void on_result(const RequestResult& r) {}
};

// The tier list a serve::Policy is made for (serve::make_policy), from the
// profile's tiers (names; the simulator needs nothing else of a tier spec).
std::vector<serve::TierSpec> policy_tiers(const Profile& profile);

// Results in request order (results[i].id == requests[i].id). `requests` must
// be sorted by t; domains index `profile.domains`.
std::vector<RequestResult> simulate(const Profile& profile, const SimOptions& options,
                                    const std::vector<SimRequest>& requests,
                                    const serve::Policy& policy, Observer* observer = nullptr);

struct Window {
  double t0 = 0;
  int64_t requests = 0;
  double quality_frac = 0;  // sum quality / sum peak of the window's arrivals
  double availability = 0;
  double mean_latency_s = 0;         // of answered requests
  std::vector<int64_t> tier_counts;  // per tier; last entry: rejected
};

struct SimMetrics {
  int64_t requests = 0;
  double availability = 0;  // share answered within the deadline
  double quality_frac = 0;  // mean quality as a fraction of peak
  double windows_96 = 0;    // share of windows with quality_frac >= 0.96
  double windows_98 = 0;
  double mean_latency_s = 0;  // of answered requests
  double p99_latency_s = 0;
  std::vector<double> tier_share;  // per tier; last entry: rejected (by policy or 429)
  std::vector<int64_t> outcomes;   // per Outcome
  std::vector<Window> windows;
};

// Windows of `window_s` seconds by arrival time over [0, duration_s); windows
// without arrivals are left out of the shares.
SimMetrics summarize(const Profile& profile, const std::vector<RequestResult>& results,
                     double window_s, double duration_s);

}  // namespace tandem::sim
