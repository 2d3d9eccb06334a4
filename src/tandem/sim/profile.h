// Profile — what the simulator knows about each quality tier: how long the
// engine's iterations take when the tier's sequences run in them, and how good
// the tier's answers are per task domain. Measured by sim/profiler.h on the real
// models (`tandem router profile`, `tandem bench --tiers`), saved as JSON.
//
// Version 2 (measured profiles) charges every *model* for what it runs, as
// the Engine does (one batched Model::forward per model per iteration; the
// little-model drafts of spec/bild sequences run as back-to-back sub-steps of
// one iteration, see serve/engine.h):
//   {"format": "tandem-profile", "version": 2, "domains": [...], "slots": 8,
//    "overhead_iter_s": 0.0002,   engine time per iteration outside forwards
//    "overhead_seq_s": 0.00002,   ... and per running sequence (the defaults of
//                                 the tiers' own "overhead_iter_s"/"overhead_seq_s":
//                                 an iteration costs the largest per-iteration
//                                 value of its tiers plus each tier's per-sequence
//                                 value times its sequences)
//    "models": [{"name": "big", "forward": [[1, 0.004], [2, 0.0045], ...],
//                "logits_row_s": 0.00005}, ...],
//               forward seconds by tokens fed in one call (all sequences, the logits of
//               each sequence's last token), interpolated linearly between points, the
//               last slope beyond the last point; logits_row_s (optional, 0 if absent):
//               seconds per further logits row, which a verifying forward computes for
//               every token it is fed (LogitsMode::kAll)
//    "tiers": [{"name": "balanced", "strategy": "spec", "big": 0, "little": 1,
//               "tokens_per_cycle": 2.6,      tokens emitted per big-model verification
//               "drafts_per_cycle": 3,        little forwards per verification
//               "big_tokens_per_cycle": 4,    tokens fed to big per verification
//               "quality": {"bible": 0.31, ...},   ROUGE-L F1 vs the true continuation
//               "step_base_s": ..., "step_per_seq_s": ..., "prefill_token_s": ...}]}
//   (ar tiers: "strategy": "ar", "big" = their model, "little": -1, cycle = 1 token.)
//   The step_* numbers of a v2 profile are derived, not measured: the tier's
//   seconds per emitted token alone with 1 sequence, the slope per further
//   sequence, and its prompt cost per token (derive_tier_costs()); the router's
//   latency features and the workload scale use them.
// Version 1 (and hand-made profiles without models) has only the per-tier
//   numbers: iteration_s = sum over tiers with work of step_base_s +
//   step_per_seq_s * (decoding - 1) + prefill_token_s * prompt tokens, one
//   token per sequence per iteration.
// Tiers are listed best quality first (as in the serve config).
// Thread safety: plain value type.
#pragma once

#include <string>
#include <vector>

namespace tandem::sim {

struct TierProfile {
  std::string name;
  double step_base_s = 0.01;
  double step_per_seq_s = 0.002;
  double prefill_token_s = 0.0005;
  std::vector<double> quality;  // per domain, in Profile::domains order
  // Version 2 only (Profile::models non-empty): how the tier uses the models.
  std::string strategy = "ar";  // ar | spec | bild
  int big = 0;                  // model index (ar: the tier's model)
  int little = -1;              // draft model index, -1 for ar
  double tokens_per_cycle = 1;
  double drafts_per_cycle = 0;
  double big_tokens_per_cycle = 1;
  // Engine time outside forwards per iteration this tier's sequences run in, and
  // per such sequence (speculative tiers pay for their draft bookkeeping); a
  // profile without them gives every tier the profile-wide values.
  double overhead_iter_s = 0, overhead_seq_s = 0;
  bool speculative() const { return little >= 0; }
};

// Forward cost of one model: seconds by tokens fed in one call.
struct ModelCost {
  std::string name;
  std::vector<std::pair<int64_t, double>> forward;  // ascending tokens, last-token logits
  double logits_row_s = 0;               // per logits row beyond one per sequence (verification)
  double seconds(int64_t tokens) const;  // 0 for tokens <= 0
};

// What one engine iteration runs (per tier) and what it costs.
struct IterationLoad {
  std::vector<int> decoding;            // per tier: sequences in the generation phase
  std::vector<int64_t> prefill_big;     // per tier: prompt tokens fed to the big/ar model
  std::vector<int64_t> prefill_little;  // per tier: prompt tokens fed to the little model
};
struct IterationCost {
  double seconds = 0;
  std::vector<double> tokens;  // per tier: tokens one generating sequence emits
};

struct Profile {
  std::vector<std::string> domains;
  std::vector<TierProfile> tiers;
  std::vector<ModelCost> models;  // empty: a version-1 profile
  // The overhead fit over all tiers: what parse_profile() gives tiers that carry
  // none of their own; iteration() charges the tiers' values only.
  double overhead_iter_s = 0, overhead_seq_s = 0;
  int slots = 8;
  std::string note;

  int domain_index(const std::string& d) const;  // -1 if absent
  // Quality of `tier` on `domain` (domain -1: the mean over domains).
  double quality(int tier, int domain) const;
  // The "peak" quality of `domain`: the best tier's (the first), as every request
  // would get it served by the best tier with no queueing (issue 7's definition;
  // a cheaper tier may score above it on a domain, so shares can pass 100 %).
  double peak(int domain) const;
  // Time of one iteration; `decoding[t]` sequences of tier t generate one token
  // each and `prefill[t]` prompt tokens of tier t are fed.
  // (Version-1 cost model only; prompt tokens counted once per tier.)
  double iteration_s(const std::vector<int>& decoding, const std::vector<int64_t>& prefill) const;
  // One iteration under either cost model.
  IterationCost iteration(const IterationLoad& load) const;
  // Version 2: fills every tier's step_base_s / step_per_seq_s / prefill_token_s
  // from the models (see above); no-op for version 1.
  void derive_tier_costs();
  // Checks sizes and values; throws tandem::Error naming `origin`.
  void validate(const std::string& origin) const;
};

Profile parse_profile(const std::string& json_text, const std::string& origin);
Profile load_profile(const std::string& path);
std::string profile_to_json(const Profile& p);
void save_profile(const std::string& path, const Profile& p);

}  // namespace tandem::sim
