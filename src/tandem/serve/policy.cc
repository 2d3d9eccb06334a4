#include "tandem/serve/policy.h"

#include <fmt/format.h>

#include <charconv>

#include "tandem/base/error.h"
#include "tandem/router/policy_file.h"  // learned:FILE (src/tandem/router)

namespace tandem::serve {
namespace {

class FixedPolicy final : public Policy {
 public:
  FixedPolicy(int tier, std::string tier_name) : tier_(tier), tier_name_(std::move(tier_name)) {}
  std::string name() const override { return "fixed:" + tier_name_; }
  int choose(const RequestFeatures&, const LoadState&) const override { return tier_; }

 private:
  int tier_;
  std::string tier_name_;
};

class QueuePolicy final : public Policy {
 public:
  explicit QueuePolicy(std::vector<int64_t> thresholds) : thresholds_(std::move(thresholds)) {}
  std::string name() const override {
    std::string s = "queue:";
    for (size_t i = 0; i < thresholds_.size(); ++i)
      s += fmt::format("{}{}", i ? "," : "", thresholds_[i]);
    return s;
  }
  int choose(const RequestFeatures&, const LoadState& load) const override {
    int tier = 0;
    while (tier < static_cast<int>(thresholds_.size()) && load.queued >= thresholds_[tier]) ++tier;
    return tier;
  }

 private:
  std::vector<int64_t> thresholds_;
};

}  // namespace

std::unique_ptr<Policy> make_policy(std::string_view spec, const std::vector<TierSpec>& tiers) {
  const size_t colon = spec.find(':');
  const std::string_view kind = spec.substr(0, colon);
  const std::string_view arg = colon == std::string_view::npos ? "" : spec.substr(colon + 1);
  if (kind == "fixed") {
    for (size_t i = 0; i < tiers.size(); ++i)
      if (tiers[i].name == arg)
        return std::make_unique<FixedPolicy>(static_cast<int>(i), tiers[i].name);
    std::string names;
    for (const TierSpec& t : tiers) names += (names.empty() ? "" : ", ") + t.name;
    fail("policy '{}': no tier named '{}' (tiers: {})", spec, arg, names);
  }
  if (kind == "queue") {
    std::vector<int64_t> th;
    size_t pos = 0;
    while (pos < arg.size()) {
      const size_t end = std::min(arg.find(',', pos), arg.size());
      int64_t v = 0;
      const auto [p, ec] = std::from_chars(arg.data() + pos, arg.data() + end, v);
      if (ec != std::errc() || p != arg.data() + end || v < 0)
        fail("policy '{}': thresholds must be non-negative integers, e.g. queue:4,16", spec);
      if (!th.empty() && v <= th.back())
        fail("policy '{}': thresholds must be strictly ascending", spec);
      th.push_back(v);
      pos = end + 1;
    }
    if (th.empty()) fail("policy '{}': give at least one threshold, e.g. queue:4,16", spec);
    if (th.size() + 1 > tiers.size())
      fail("policy '{}': {} thresholds need {} tiers, the configuration has {}", spec, th.size(),
           th.size() + 1, tiers.size());
    return std::make_unique<QueuePolicy>(std::move(th));
  }
  if (kind == "learned") {
    // A router policy file trained by `tandem router train` (src/tandem/router).
    if (arg.empty()) fail("policy '{}': give the policy file, e.g. learned:router.json", spec);
    return router::make_learned_policy(std::string(arg), tiers);
  }
  fail("unknown policy '{}' (expected fixed:<tier>, queue:<n1>,<n2>,... or learned:<file>)", spec);
}

}  // namespace tandem::serve
