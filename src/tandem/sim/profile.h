// Profile — what the simulator knows about each quality tier: how long the
// engine's iterations take when the tier's sequences run in them, and how good
// the tier's answers are per task domain. Measured by sim/profiler.h on the real
// Engine (`tandem router profile`), saved as JSON:
//   {
//     "format": "tandem-profile", "version": 1,
//     "domains": ["bible", "fortunes", ...],
//     "tiers": [
//       {"name": "quality",
//        "step_base_s": 0.010,      iteration time with one decoding sequence of the tier
//        "step_per_seq_s": 0.002,   added per further decoding sequence of the tier
//        "prefill_token_s": 0.0004, per prompt token fed
//        "quality": {"bible": 0.31, ...}},   ROUGE-L F1 vs the true continuation
//       ...],
//     "slots": 8, "note": "how and where it was measured"
//   }
// Cost model of one engine iteration (continuous batching: every running
// sequence advances one token per iteration, prompts are prefilled in chunks):
//   iteration_s = sum over tiers with work of
//                 step_base_s + step_per_seq_s * (decoding sequences - 1)
//                 + prefill_token_s * (prompt tokens fed)
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
};

struct Profile {
  std::vector<std::string> domains;
  std::vector<TierProfile> tiers;
  int slots = 8;
  std::string note;

  int domain_index(const std::string& d) const;  // -1 if absent
  // Quality of `tier` on `domain` (domain -1: the mean over domains).
  double quality(int tier, int domain) const;
  // The best quality any tier reaches on `domain` (the "peak").
  double peak(int domain) const;
  // Time of one iteration; `decoding[t]` sequences of tier t generate one token
  // each and `prefill[t]` prompt tokens of tier t are fed.
  double iteration_s(const std::vector<int>& decoding, const std::vector<int64_t>& prefill) const;
  // Checks sizes and values; throws tandem::Error naming `origin`.
  void validate(const std::string& origin) const;
};

Profile parse_profile(const std::string& json_text, const std::string& origin);
Profile load_profile(const std::string& path);
std::string profile_to_json(const Profile& p);
void save_profile(const std::string& path, const Profile& p);

}  // namespace tandem::sim
