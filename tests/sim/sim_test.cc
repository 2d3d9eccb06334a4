#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "tandem/base/error.h"
#include "tandem/serve/policy.h"
#include "tandem/sim/profile.h"
#include "tandem/sim/simulator.h"
#include "tandem/sim/workload.h"

namespace tandem::sim {
namespace {

Profile two_tiers() {
  Profile p;
  p.domains = {"code", "prose"};
  p.tiers = {{"big", 0.02, 0.004, 0.0005, {0.5, 0.4}},
             {"little", 0.002, 0.0004, 0.00005, {0.35, 0.3}}};
  return p;
}

WorkloadSpec busy(uint64_t seed) {
  WorkloadSpec w;
  w.arrival = "bursty:on=30,off=2,on_s=3,off_s=5";
  w.duration_s = 40;
  w.deadline_ms = {1500, 4000};
  w.seed = seed;
  return w;
}

TEST(Simulator, DeterministicForASeed) {
  const Profile p = two_tiers();
  const auto pol = serve::make_policy("queue:4", policy_tiers(p));
  SimOptions o;
  const auto a = simulate(p, o, make_workload(busy(3), p.domains), *pol);
  const auto b = simulate(p, o, make_workload(busy(3), p.domains), *pol);
  ASSERT_EQ(a.size(), b.size());
  ASSERT_GT(a.size(), 100u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].t, b[i].t);
    EXPECT_EQ(a[i].tier, b[i].tier);
    EXPECT_EQ(a[i].outcome, b[i].outcome);
    EXPECT_EQ(a[i].latency_s, b[i].latency_s);
  }
  const auto c = make_workload(busy(4), p.domains);
  EXPECT_NE(c.size() == a.size() && c[0].t == a[0].t, true);
}

class Counter : public Observer {
 public:
  void on_decision(const SimRequest& r, const serve::RequestFeatures&, const serve::LoadState& l,
                   int) override {
    ++decisions[r.id];
    EXPECT_GE(l.free_slots, 0);
  }
  void on_result(const RequestResult& r) override { ++results[r.id]; }
  std::map<int64_t, int> decisions, results;
};

TEST(Simulator, EveryArrivalEndsInExactlyOneOutcome) {
  const Profile p = two_tiers();
  for (const char* spec : {"fixed:big", "fixed:little", "queue:2"}) {
    for (DeadlineMode mode : {DeadlineMode::kHard, DeadlineMode::kSoft}) {
      const auto pol = serve::make_policy(spec, policy_tiers(p));
      SimOptions o;
      o.mode = mode;
      o.max_queued_requests = 16;  // so that 429s happen too
      const auto reqs = make_workload(busy(9), p.domains);
      Counter c;
      const auto res = simulate(p, o, reqs, *pol, &c);
      ASSERT_EQ(res.size(), reqs.size());
      std::map<Outcome, int> seen;
      for (const auto& r : reqs) {
        EXPECT_EQ(c.decisions[r.id], 1) << spec;
        EXPECT_EQ(c.results[r.id], 1) << spec;
      }
      for (const auto& r : res) {
        ++seen[r.outcome];
        if (r.outcome == Outcome::kOnTime || r.outcome == Outcome::kLate) {
          EXPECT_GT(r.latency_s, 0);
        } else {
          EXPECT_EQ(r.quality, 0);
        }
      }
      if (std::string(spec) == "fixed:big") {
        EXPECT_GT(seen[Outcome::kQueueFull], 0);  // overloaded
        if (mode == DeadlineMode::kHard) {
          EXPECT_GT(seen[Outcome::kDropped], 0);
        } else {
          EXPECT_EQ(seen[Outcome::kDropped], 0);
        }
      }
      const SimMetrics m = summarize(p, res, 10, 40);
      int64_t total = 0;
      for (int64_t n : m.outcomes) total += n;
      EXPECT_EQ(total, static_cast<int64_t>(reqs.size()));
    }
  }
}

// Records the deadline the policy was shown per request; always tier 0.
class DeadlineSpy final : public serve::Policy {
 public:
  std::string name() const override { return "spy"; }
  int choose(const serve::RequestFeatures& f, const serve::LoadState&) const override {
    seen.push_back(f.deadline_s);
    return 0;
  }
  mutable std::vector<double> seen;
};

// As the Engine: a request without a deadline is shown to the policy with the
// routing deadline when one is set (and still served without a deadline).
TEST(Simulator, DeadlineFreeRequestsAreRoutedWithTheRoutingDeadline) {
  const Profile p = two_tiers();
  WorkloadSpec w = busy(5);
  w.deadline_ms = {0, 0};
  const auto reqs = make_workload(w, p.domains);
  ASSERT_GT(reqs.size(), 10u);
  SimOptions o;
  DeadlineSpy none;
  const auto a = simulate(p, o, reqs, none);
  o.routing_deadline_s = 1.5;
  DeadlineSpy routed;
  const auto b = simulate(p, o, reqs, routed);
  ASSERT_EQ(routed.seen.size(), reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_TRUE(std::isinf(none.seen[i]));
    EXPECT_EQ(routed.seen[i], 1.5);
    EXPECT_EQ(a[i].outcome, b[i].outcome);  // not enforced: same service
    EXPECT_EQ(b[i].deadline_s, 0);
  }
  // A request's own deadline wins.
  const auto with = make_workload(busy(5), p.domains);
  DeadlineSpy own;
  simulate(p, o, with, own);
  for (size_t i = 0; i < with.size(); ++i) EXPECT_EQ(own.seen[i], with[i].deadline_s);
}

TEST(Simulator, UnloadedLatencyFollowsTheProfile) {
  const Profile p = two_tiers();
  std::vector<SimRequest> reqs(1);
  reqs[0].prompt_tokens = 100;
  reqs[0].max_tokens = 10;
  const auto pol = serve::make_policy("fixed:big", policy_tiers(p));
  const auto res = simulate(p, SimOptions{}, reqs, *pol);
  // One prefill iteration (100 tokens, the first output token) + 9 decode steps.
  EXPECT_NEAR(res[0].latency_s, (0.02 + 100 * 0.0005) + 9 * 0.02, 1e-9);
  EXPECT_EQ(res[0].outcome, Outcome::kOnTime);
  EXPECT_DOUBLE_EQ(res[0].quality, 0.5);
  const SimMetrics m = summarize(p, res, 10, 10);
  EXPECT_DOUBLE_EQ(m.availability, 1.0);
  EXPECT_DOUBLE_EQ(m.quality_frac, 1.0);
  EXPECT_DOUBLE_EQ(m.windows_96, 1.0);
}

TEST(Simulator, FasterTierSurvivesMoreLoad) {
  const Profile p = two_tiers();
  const auto reqs = make_workload(busy(5), p.domains);
  const auto big = summarize(
      p, simulate(p, SimOptions{}, reqs, *serve::make_policy("fixed:big", policy_tiers(p))), 10,
      40);
  const auto little = summarize(
      p, simulate(p, SimOptions{}, reqs, *serve::make_policy("fixed:little", policy_tiers(p))), 10,
      40);
  EXPECT_GT(little.availability, big.availability + 0.2);
  EXPECT_LT(little.quality_frac, 0.8);  // 0.35/0.5 and 0.3/0.4 at best
}

TEST(Workload, HeavyTailMeanRateAndShiftingMix) {
  auto proc = parse_sim_arrival("heavy:rate=20,alpha=1.8,burst=5,spread=0.5");
  loadgen::Rng rng(1);
  const auto t = proc->generate(2000, rng);
  EXPECT_NEAR(static_cast<double>(t.size()) / 2000, 20, 3);
  EXPECT_TRUE(std::is_sorted(t.begin(), t.end()));
  EXPECT_EQ(parse_sim_arrival("poisson:rate=3")->spec(), "poisson:rate=3");
  EXPECT_THROW(parse_sim_arrival("heavy:rate=2,alpha=1"), Error);
  EXPECT_THROW(parse_sim_arrival("heavy:rate=2,zz=1"), Error);

  const std::vector<std::string> d = {"a", "b"};
  const auto mix = parse_task_mix("a=1|b=1@10", d);
  ASSERT_EQ(mix.size(), 2u);
  WorkloadSpec w;
  w.arrival = "constant:rate=10";
  w.duration_s = 20;
  w.mix = "a=1|b=1@10";
  for (const SimRequest& r : make_workload(w, d)) EXPECT_EQ(r.domain, r.t < 10 ? 0 : 1);
  EXPECT_THROW(parse_task_mix("c=1", d), Error);
  EXPECT_THROW(parse_task_mix("a=1|b=1", d), Error);
}

TEST(Workload, TraceFilesKeepTimesDomainsAndSizes) {
  const std::string path = ::testing::TempDir() + "/tandem_sim_trace.jsonl";
  {
    std::ofstream f(path);
    f << "# comment\n"
      << R"({"t": 2.5, "domain": "b", "max_tokens": 7, "deadline_ms": 1500})"
      << "\n"
      << R"({"t": 0.5, "task": "a", "prompt": "x"})"
      << "\n"
      << R"({"t": 99, "domain": "a"})"
      << "\n";
  }
  WorkloadSpec w;
  w.arrival = "trace:" + path;
  w.duration_s = 10;
  w.max_tokens = {40, 40};
  w.deadline_ms = {0, 0};
  const auto r = make_workload(w, {"a", "b"});
  ASSERT_EQ(r.size(), 2u);  // t >= duration dropped
  EXPECT_EQ(r[0].t, 0.5);
  EXPECT_EQ(r[0].domain, 0);
  EXPECT_EQ(r[0].max_tokens, 40);
  EXPECT_EQ(r[0].deadline_s, 0);
  EXPECT_EQ(r[1].domain, 1);
  EXPECT_EQ(r[1].max_tokens, 7);
  EXPECT_DOUBLE_EQ(r[1].deadline_s, 1.5);
}

TEST(Profile, JsonRoundTripAndErrors) {
  const Profile p = two_tiers();
  const Profile q = parse_profile(profile_to_json(p), "mem");
  ASSERT_EQ(q.tiers.size(), 2u);
  EXPECT_EQ(q.tiers[1].name, "little");
  EXPECT_DOUBLE_EQ(q.tiers[0].step_per_seq_s, 0.004);
  EXPECT_DOUBLE_EQ(q.quality(1, 1), 0.3);
  EXPECT_DOUBLE_EQ(q.peak(0), 0.5);
  EXPECT_THROW(parse_profile("{", "x"), Error);
  EXPECT_THROW(parse_profile(R"({"format":"tandem-profile","version":2})", "x"), Error);
  std::string s = profile_to_json(p);
  s.replace(s.find("\"prose\": 0.4"), 12, "\"prosa\": 0.4");
  try {
    parse_profile(s, "bad.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no quality for domain 'prose'"), std::string::npos)
        << e.what();
  }
}

// A version-2 profile: two models with linear forward costs, an ar tier per model and a spec
// tier that drafts 3 tokens on the little model and emits 2.5 tokens per verification.
Profile two_models() {
  Profile p;
  p.domains = {"code", "prose"};
  p.models = {{"big", {{1, 0.010}, {2, 0.011}, {64, 0.073}}},
              {"little", {{1, 0.001}, {2, 0.0011}, {64, 0.0073}}}};
  TierProfile big{"big", 0, 0, 0, {0.5, 0.4}};
  TierProfile spec{"spec", 0, 0, 0, {0.5, 0.4}};
  spec.strategy = "spec";
  spec.little = 1;
  spec.tokens_per_cycle = 2.5;
  spec.drafts_per_cycle = 3;
  spec.big_tokens_per_cycle = 4;
  TierProfile little{"little", 0, 0, 0, {0.35, 0.3}};
  little.big = 1;
  p.tiers = {big, spec, little};
  p.validate("test");
  p.derive_tier_costs();
  return p;
}

TEST(Profile, ModelCostsChargeEachModelPerIteration) {
  const Profile p = two_models();
  EXPECT_NEAR(p.models[0].seconds(1), 0.010, 1e-12);
  EXPECT_NEAR(p.models[0].seconds(4), 0.013, 1e-12);    // interpolated
  EXPECT_NEAR(p.models[0].seconds(128), 0.137, 1e-12);  // extrapolated on the last slope
  IterationLoad l;
  l.decoding = {2, 1, 0};
  // Three draft sub-steps on little (one spec sequence), then big runs 2 + 4 tokens.
  IterationCost c = p.iteration(l);
  EXPECT_NEAR(c.seconds, 3 * 0.001 + 0.015, 1e-12);
  EXPECT_DOUBLE_EQ(c.tokens[0], 1);
  EXPECT_DOUBLE_EQ(c.tokens[1], 2.5);
  // Little-model ar sequences ride along in the draft sub-steps: 3 + 1 tokens each.
  l.decoding = {0, 1, 2};
  c = p.iteration(l);
  EXPECT_NEAR(c.seconds,
              3 * p.models[1].seconds(3) + p.models[0].seconds(4) + p.models[1].seconds(2), 1e-12);
  EXPECT_DOUBLE_EQ(c.tokens[2], 4);
  // Without speculative sequences nothing rides: one token per iteration.
  l.decoding = {1, 0, 2};
  c = p.iteration(l);
  EXPECT_NEAR(c.seconds, 0.010 + 0.0011, 1e-12);
  EXPECT_DOUBLE_EQ(c.tokens[2], 1);
  // Derived per-token costs: spec alone is (3 drafts + a 4-token verify) / 2.5 tokens.
  EXPECT_NEAR(p.tiers[1].step_base_s, (0.003 + 0.013) / 2.5, 1e-12);
  EXPECT_NEAR(p.tiers[0].step_base_s, 0.010, 1e-12);
  EXPECT_LT(p.tiers[2].step_base_s, p.tiers[1].step_base_s);

  // The simulator emits tokens_per_cycle per iteration: 10 tokens take 4 cycles.
  std::vector<SimRequest> reqs(1);
  reqs[0].prompt_tokens = 2;
  reqs[0].max_tokens = 10;
  const auto pol = serve::make_policy("fixed:spec", policy_tiers(p));
  const auto res = simulate(p, SimOptions{}, reqs, *pol);
  // Prefill: 1 token into big, then 1 into little; then 4 cycles.
  EXPECT_NEAR(res[0].latency_s, 0.010 + 0.001 + 4 * (0.003 + 0.013), 1e-9);

  // JSON round trip keeps the models and the patterns; bad indices are refused.
  const Profile q = parse_profile(profile_to_json(p), "mem");
  ASSERT_EQ(q.models.size(), 2u);
  EXPECT_EQ(q.tiers[1].little, 1);
  EXPECT_DOUBLE_EQ(q.tiers[1].tokens_per_cycle, 2.5);
  EXPECT_NEAR(q.tiers[1].step_base_s, p.tiers[1].step_base_s, 1e-12);
  std::string s = profile_to_json(p);
  s.replace(s.find("\"little\": 1"), 11, "\"little\": 7");
  try {
    parse_profile(s, "bad.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("do not fit the 2 models"), std::string::npos) << e.what();
  }
}

// A verifying forward computes the logits of every token it is fed; the forward table has
// one row per sequence, so the profile charges logits_row_s for each further row: a spec
// sequence verifying 4 tokens pays 3 rows on the big model; ar sequences and drafts none.
TEST(Profile, VerificationPaysForEveryFedTokensLogits) {
  Profile p = two_models();
  const double row = 0.0005;
  IterationLoad l;
  l.decoding = {2, 3, 1};  // 2 big ar, 3 spec (big verifies 4 tokens each), 1 little ar
  const double before = p.iteration(l).seconds;
  p.models[0].logits_row_s = row;
  p.models[1].logits_row_s = 10 * row;  // the little model drafts with last-token logits
  EXPECT_NEAR(p.iteration(l).seconds - before, 3 * 3 * row, 1e-12);
  l.decoding = {2, 0, 1};
  const double ar_only = p.iteration(l).seconds;
  p.models[0].logits_row_s = p.models[1].logits_row_s = 0;
  EXPECT_NEAR(p.iteration(l).seconds, ar_only, 1e-12);
  // Kept by the JSON round trip; absent means 0 (profiles written before it); negative refused.
  p.models[0].logits_row_s = row;
  EXPECT_DOUBLE_EQ(parse_profile(profile_to_json(p), "mem").models[0].logits_row_s, row);
  std::string s = profile_to_json(p);
  const size_t at = s.find("\"logits_row_s\": 0.0005");
  ASSERT_NE(at, std::string::npos) << s;
  std::string absent = s;
  absent.replace(at, 14, "\"other_key\"");  // as in a profile written before the field
  EXPECT_DOUBLE_EQ(parse_profile(absent, "mem").models[0].logits_row_s, 0);
  s.replace(at, 23, "\"logits_row_s\": -1.000");
  EXPECT_THROW(parse_profile(s, "bad.json"), Error);
}

TEST(Profile, EngineOverheadPerTier) {
  Profile p = two_models();
  p.tiers[0].overhead_iter_s = 0.0001;  // big ar
  p.tiers[0].overhead_seq_s = 0.00002;
  p.tiers[1].overhead_iter_s = 0.0003;  // spec: its drafts' bookkeeping
  p.tiers[1].overhead_seq_s = 0.0001;
  IterationLoad l;
  l.decoding = {2, 0, 0};
  EXPECT_NEAR(p.iteration(l).seconds, p.models[0].seconds(2) + 0.0001 + 2 * 0.00002, 1e-12);
  // Both tiers in one iteration: the larger per-iteration cost, each tier's per-sequence cost.
  l.decoding = {2, 1, 0};
  EXPECT_NEAR(p.iteration(l).seconds, 3 * 0.001 + 0.015 + 0.0003 + 2 * 0.00002 + 0.0001, 1e-12);
  // A tier that only prefills pays its per-iteration cost too.
  IterationLoad pre;
  pre.prefill_big = {0, 0, 5};
  EXPECT_NEAR(p.iteration(pre).seconds, p.models[1].seconds(5), 1e-12);  // little: none set
  // Round trip keeps the tiers' values; a profile without them gives each tier the
  // profile-wide ones.
  const Profile q = parse_profile(profile_to_json(p), "mem");
  EXPECT_DOUBLE_EQ(q.tiers[1].overhead_iter_s, 0.0003);
  EXPECT_DOUBLE_EQ(q.tiers[0].overhead_seq_s, 0.00002);
  nlohmann::json j = nlohmann::json::parse(profile_to_json(p));
  j["overhead_iter_s"] = 0.0005;
  j["overhead_seq_s"] = 0.00007;
  for (auto& t : j["tiers"]) t.erase("overhead_iter_s"), t.erase("overhead_seq_s");
  const Profile old = parse_profile(j.dump(), "old.json");
  for (const TierProfile& t : old.tiers) {
    EXPECT_DOUBLE_EQ(t.overhead_iter_s, 0.0005) << t.name;
    EXPECT_DOUBLE_EQ(t.overhead_seq_s, 0.00007) << t.name;
  }
  j["tiers"][0]["overhead_seq_s"] = -1;
  EXPECT_THROW(parse_profile(j.dump(), "neg.json"), Error);
}

}  // namespace
}  // namespace tandem::sim
