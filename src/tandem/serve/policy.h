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
// Requests without a deadline: a policy trained on deadlines (the learned
// router) has no sensible answer for "no deadline" -- fed one, the demo router
// sent most requests to the big model whatever the load. So the server (and the
// simulator) show such a request to the policy with a *routing deadline*
// (routing_deadline_s below; `tandem serve --routing-deadline-ms`, default
// auto = the policy's default_routing_deadline_s(): for a learned policy the
// middle of the deadline range it was trained on). It only steers routing: the
// request is still served without a deadline (nothing is dropped or answered
// 408 because of it).
// Thread safety: choose() may be called concurrently; implementations keep no
// mutable state or guard it themselves.
#pragma once

#include <cmath>
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
  // The deadline (seconds from arrival) to route deadline-free requests with
  // when the operator leaves the choice to the policy; 0: none (the policy is
  // shown no deadline). Static policies ignore deadlines and keep 0.
  virtual double default_routing_deadline_s() const { return 0; }
};

// The routing deadline in effect: `option_s` < 0 means auto (the policy's
// default), 0 none, > 0 that many seconds. Returns 0 for none.
inline double resolve_routing_deadline(double option_s, const Policy& policy) {
  const double s = option_s < 0 ? policy.default_routing_deadline_s() : option_s;
  return std::isfinite(s) && s > 0 ? s : 0.0;
}

// The deadline a policy is shown for a request: its own when it has one (> 0),
// else `routing_deadline_s` when > 0, else none (infinity).
inline double routing_deadline(double request_deadline_s, double routing_deadline_s) {
  if (request_deadline_s > 0 && std::isfinite(request_deadline_s)) return request_deadline_s;
  return routing_deadline_s > 0 ? routing_deadline_s : std::numeric_limits<double>::infinity();
}

// Throws tandem::Error for an unknown spec or a tier that does not exist.
std::unique_ptr<Policy> make_policy(std::string_view spec, const std::vector<TierSpec>& tiers);

}  // namespace tandem::serve
