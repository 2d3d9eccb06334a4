// Policy — picks the quality tier that serves a request which did not ask for
// one. The one interface static policies and the learned router implement.
//
// Contract: choose() sees the request (task, sizes, deadline) and a snapshot of
// the load, and returns a tier index (tiers are ordered best quality first) or
// kReject to refuse the request now (answered 429). It runs on the request's
// HTTP thread, must not block and should cost microseconds.
// Shipped policies, by spec string (make_policy):
//   fixed:<tier>          always that tier
//   queue:<n1>,<n2>,...   by queue depth d (waiting requests): d < n1 -> tier 0,
//                         n1 <= d < n2 -> tier 1, ...; at most tiers-1 thresholds,
//                         ascending; beyond the last, the next tier
// Thread safety: choose() may be called concurrently; implementations keep no
// mutable state or guard it themselves.
#pragma once

#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/serve/tiers.h"

namespace tandem::serve {

struct RequestFeatures {
  std::string task;  // the request's task/domain label; "" if none
  int64_t prompt_tokens = 0;
  int64_t max_tokens = 0;
  double deadline_s = std::numeric_limits<double>::infinity();  // from arrival
};

struct TierLoad {
  int64_t queued = 0;           // waiting requests assigned to the tier
  int64_t running = 0;          // sequences of the tier in the engine
  int64_t queued_tokens = 0;    // prompt + max_tokens of its waiting requests
  int64_t inflight_tokens = 0;  // tokens still to generate by its running sequences (bound)
};

struct LoadState {
  std::vector<TierLoad> tiers;  // one per tier
  int64_t queued = 0;           // waiting requests, all tiers
  int64_t running = 0;          // running sequences, all tiers
  int64_t free_slots = 0;       // sequences the engine could start now
  double arrival_rate = 0;      // requests per second, exponentially weighted
};

class Policy {
 public:
  static constexpr int kReject = -1;
  virtual ~Policy() = default;
  virtual std::string name() const = 0;
  virtual int choose(const RequestFeatures& request, const LoadState& load) const = 0;
};

// Throws tandem::Error for an unknown spec or a tier that does not exist.
std::unique_ptr<Policy> make_policy(std::string_view spec, const std::vector<TierSpec>& tiers);

}  // namespace tandem::serve
