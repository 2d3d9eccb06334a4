// Held-out workloads: the task-mix shift towards the fastest tier's weakest domain.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tandem/loadgen/arrival.h"
#include "tandem/router/scenarios.h"
#include "tandem/sim/workload.h"

namespace tandem::router {
namespace {

// Three domains; tier 1 (the fast one) reaches 90 %, 100 % and 50 % of tier 0's quality.
sim::Profile two_tier_profile() {
  sim::Profile p;
  p.domains = {"a", "b", "c"};
  p.tiers.resize(2);
  p.tiers[0].name = "best";
  p.tiers[0].quality = {0.2, 0.1, 0.3};
  p.tiers[1].name = "fast";
  p.tiers[1].quality = {0.18, 0.1, 0.15};
  return p;
}

Scale scale_with_capacities(std::vector<double> rps) {
  Scale s;
  s.capacity_rps = std::move(rps);
  for (double r : s.capacity_rps) s.fastest_rps = std::max(s.fastest_rps, r);
  return s;
}

TEST(Scenarios, DomainsAreRankedByTheFastestTiersShareOfThePeak) {
  const sim::Profile p = two_tier_profile();
  EXPECT_EQ(domains_by_fastest_tier_quality(scale_with_capacities({1, 5}), p),
            (std::vector<std::string>{"b", "a", "c"}));
  // When the best tier is also the fastest, every domain is at 100 %: the profile's order.
  EXPECT_EQ(domains_by_fastest_tier_quality(scale_with_capacities({5, 1}), p),
            (std::vector<std::string>{"a", "b", "c"}));
}

TEST(Scenarios, MixToWorstShiftsFromTheFastTiersBestDomainToItsWorst) {
  const sim::Profile p = two_tier_profile();
  const Scale s = scale_with_capacities({1, 5});
  const auto wl = eval_workloads(s, ScenarioOptions{}, p, 7, 200);
  const NamedWorkload* w = nullptr;
  for (const NamedWorkload& x : wl)
    if (x.name == "mix-to-worst") w = &x;
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->shift, "task-mix");
  // The arrivals follow the mix: "b" (100 %) dominates the first half, "c" (50 %) the second.
  const auto reqs = sim::make_workload(w->spec, p.domains);
  int first[3] = {0, 0, 0}, second[3] = {0, 0, 0};
  for (const sim::SimRequest& r : reqs) ++(r.t < 100 ? first : second)[r.domain];
  ASSERT_GT(first[1] + first[2], 20);
  ASSERT_GT(second[1] + second[2], 20);
  EXPECT_GT(first[1], 3 * first[2]);
  EXPECT_GT(second[2], 3 * second[1]);
  EXPECT_EQ(first[0] + second[0], 0);
  // The other workloads keep their seeds: adding this one did not move them.
  EXPECT_EQ(wl.size(), 5u);
  EXPECT_EQ(wl[3].name, "mix-shift");
  EXPECT_EQ(wl[3].spec.seed, 7u + 7919 * 4);
}

TEST(Scenarios, SkewedTrainingMixesFavourOneDomainAndAreOffByDefault) {
  const sim::Profile p = two_tier_profile();
  const Scale s = scale_with_capacities({1, 5});
  ScenarioOptions o;
  loadgen::Rng a(11), b(11);
  // Off (the default): every episode uniform.
  for (int i = 0; i < 20; ++i) EXPECT_EQ(training_workload(s, o, p.domains, a).mix, "uniform");
  // Always on: one domain 2-8x as frequent as each other one, every domain listed.
  o.skewed_mix_share = 1;
  int skewed = 0;
  for (int i = 0; i < 20; ++i) {
    sim::WorkloadSpec w = training_workload(s, o, p.domains, b);
    ASSERT_NE(w.mix, "uniform");
    for (const std::string& d : p.domains)
      EXPECT_NE(w.mix.find(d + "="), std::string::npos) << w.mix;
    w.arrival = "poisson:rate=50";
    w.duration_s = 20;
    const auto reqs = sim::make_workload(w, p.domains);
    int n[3] = {0, 0, 0};
    for (const sim::SimRequest& r : reqs) ++n[r.domain];
    const int top = static_cast<int>(std::max_element(n, n + 3) - n);
    skewed += n[top] > 1.5 * n[(top + 1) % 3] && n[top] > 1.5 * n[(top + 2) % 3];
  }
  EXPECT_GE(skewed, 18);
}

}  // namespace
}  // namespace tandem::router
