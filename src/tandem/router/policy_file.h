// The learned router as a serve::Policy, its state features, and its file.
//
// State features (FeatureLayout::encode, layout "v2"), in this order:
//   task one-hot over `domains` (an unknown task: all zero)
//   per tier: queued / slots, running / slots, queued_tokens / (128 slots),
//             inflight_tokens / (128 slots)
//   queued / slots, free_slots / slots, log1p(arrival_rate) / 4
//   has_deadline, deadline_s / 10 (0 without one)
//   prompt_tokens / 256, max_tokens / 256
//   per tier: the request's estimated latency on that tier over its deadline
//             (over 10 s without one), at most 4 -- from the tier costs the
//             policy was trained with (the profile's, stored in the file):
//             iteration = sum over tiers u with sequences (running, plus this
//             one on t) of base_u + per_seq_u * (n_u - 1); waiting (when no
//             slot is free) = (inflight + queued tokens) / slots iterations;
//             latency = waiting + prompt * prefill_t + max_tokens * iteration
// Actions: 0..tiers-1 = that tier; `reject` adds action `tiers` = kReject.
// Requests without a deadline: the server and the simulator show them to the
// policy with a routing deadline (serve/policy.h); a learned policy's default
// (default_routing_deadline_s) is the middle of the deadline range of its
// training workloads, features.deadline_s in the file. Files written before
// that field existed get the value `tandem router train` has always used: 4.5x
// the best tier's unloaded latency for a mean request (64 prompt tokens, 48
// generated), i.e. the middle of 3-6x, from the stored costs.
//
// Policy file (JSON, written by save_policy, read by load_policy):
//   {"format": "tandem-router-policy", "version": 1,
//    "features": {"layout": "v2", "domains": [...], "tiers": [...], "slots": 8,
//                 "reject": false, "costs": [[base_s, per_seq_s, prefill_token_s], ...],
//                 "deadline_s": [lo, hi]  (optional: the training deadlines)},
//    "net": {"sizes": [in, h1, h2, out], "w": [[row-major w0], [w1], [w2]],
//            "b": [[b0], [b1], [b2]]},
//    "checksum": "<FNV-1a 64 of the parameters' bytes, hex>",
//    "meta": {...free-form: how it was trained}}
// load_policy refuses, with a message naming the file and the problem: bad
// JSON, another format or version, sizes inconsistent with the layout or the
// weights, a checksum mismatch (a corrupted file), and (with `tiers`) tier
// names that differ from the serve configuration's.
// Thread safety: LearnedPolicy is immutable after construction; choose() is
// re-entrant.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tandem/router/mlp.h"
#include "tandem/serve/policy.h"

namespace tandem::router {

struct TierCost {
  double base_s = 0, per_seq_s = 0, prefill_token_s = 0;
};

struct FeatureLayout {
  std::vector<std::string> domains;
  std::vector<std::string> tiers;
  int slots = 8;
  bool reject = false;
  std::vector<TierCost> costs;  // per tier; empty: latency estimates are 0
  // Deadline range (seconds) of the training workloads; 0, 0: not recorded.
  double deadline_lo_s = 0, deadline_hi_s = 0;

  int size() const { return static_cast<int>(domains.size() + 5 * tiers.size() + 7); }
  int actions() const { return static_cast<int>(tiers.size()) + (reject ? 1 : 0); }
  // Writes size() values into `out`.
  void encode(const serve::RequestFeatures& f, const serve::LoadState& load, double* out) const;
  Vec encode(const serve::RequestFeatures& f, const serve::LoadState& load) const;
  // Action index -> Policy tier (or kReject).
  int action_to_tier(int a) const {
    return a < static_cast<int>(tiers.size()) ? a : serve::Policy::kReject;
  }
};

class LearnedPolicy final : public serve::Policy {
 public:
  LearnedPolicy(FeatureLayout layout, Mlp net, std::string origin);
  std::string name() const override { return "learned:" + origin_; }
  int choose(const serve::RequestFeatures& request, const serve::LoadState& load) const override;
  // The middle of the training deadline range (see above); 0 without costs.
  double default_routing_deadline_s() const override;
  const FeatureLayout& layout() const { return layout_; }
  const Mlp& net() const { return net_; }

 private:
  FeatureLayout layout_;
  Mlp net_;
  std::string origin_;
};

// Greedy action of `net` for the state `x` (argmax; ties: the lowest index).
int greedy_action(const Mlp& net, const Vec& x);

void save_policy(const std::string& path, const FeatureLayout& layout, const Mlp& net,
                 const nlohmann::json& meta = nlohmann::json::object());
// `tier_names` empty: no check against a configuration.
std::unique_ptr<LearnedPolicy> load_policy(const std::string& path,
                                           const std::vector<std::string>& tier_names = {});
std::unique_ptr<LearnedPolicy> parse_policy(const std::string& text, const std::string& origin,
                                            const std::vector<std::string>& tier_names = {});

// The hook serve::make_policy("learned:FILE", tiers) calls.
std::unique_ptr<serve::Policy> make_learned_policy(const std::string& path,
                                                   const std::vector<serve::TierSpec>& tiers);

}  // namespace tandem::router
