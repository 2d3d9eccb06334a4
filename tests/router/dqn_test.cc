#include "tandem/router/dqn.h"

#include <gtest/gtest.h>

#include "tandem/serve/policy.h"

namespace tandem::router {
namespace {

sim::Profile two_tiers() {
  sim::Profile p;
  p.domains = {"code", "prose"};
  p.tiers = {{"big", 0.02, 0.004, 0.0005, {0.5, 0.4}},
             {"little", 0.002, 0.0004, 0.00005, {0.35, 0.3}}};
  return p;
}

TrainOptions fast_options() {
  TrainOptions o;
  o.hidden1 = o.hidden2 = 32;
  o.batch = 32;
  o.warmup = 64;
  o.train_every = 1;
  o.target_sync = 100;
  o.lr = 3e-3;
  o.eps_fraction = 0.5;
  o.gamma = 0.5;
  o.miss_penalty = -1;
  return o;
}

sim::SimMetrics run(const sim::Profile& p, const serve::Policy& pol, const sim::WorkloadSpec& w) {
  const auto reqs = sim::make_workload(w, p.domains);
  return sim::summarize(p, sim::simulate(p, sim::SimOptions{}, reqs, pol), 10, w.duration_s);
}

TEST(Dqn, NoLoadLearnsTheBestTier) {
  const sim::Profile p = two_tiers();
  TrainOptions o = fast_options();
  o.episodes = 8;
  auto scenario = [](int e, loadgen::Rng&) {
    sim::WorkloadSpec w;
    w.arrival = "poisson:rate=2";
    w.duration_s = 60;
    w.seed = 100 + e;
    return w;
  };
  const TrainResult r = train(p, o, scenario);
  ASSERT_EQ(r.curve.size(), 8u);
  const LearnedPolicy pol(r.layout, r.net, "test");
  sim::WorkloadSpec w = scenario(99, *std::make_unique<loadgen::Rng>(1));
  const auto m = run(p, pol, w);
  EXPECT_GT(m.tier_share[0], 0.99);
  EXPECT_GT(m.quality_frac, 0.99);
}

TEST(Dqn, SaturatingLoadLearnsTheFasterTier) {
  const sim::Profile p = two_tiers();
  TrainOptions o = fast_options();
  o.episodes = 8;
  auto scenario = [](int e, loadgen::Rng&) {
    sim::WorkloadSpec w;
    w.arrival = "poisson:rate=20";
    w.duration_s = 20;
    w.deadline_ms = {2000, 3000};
    w.seed = 200 + e;
    return w;
  };
  const TrainResult r = train(p, o, scenario);
  const LearnedPolicy pol(r.layout, r.net, "test");
  sim::WorkloadSpec w = scenario(99, *std::make_unique<loadgen::Rng>(1));
  const auto learned = run(p, pol, w);
  serve::TierSpec big;
  big.name = "big";
  const auto fixed_big = run(p, *serve::make_policy("fixed:big", {big}), w);
  EXPECT_GT(learned.tier_share[1], 0.5);
  EXPECT_GT(learned.availability, fixed_big.availability + 0.3);
  EXPECT_GT(learned.availability, 0.9);
}

TEST(Dqn, TrainingIsReproducibleForASeed) {
  const sim::Profile p = two_tiers();
  TrainOptions o = fast_options();
  o.episodes = 2;
  auto scenario = [](int e, loadgen::Rng& rng) {
    sim::WorkloadSpec w;
    w.arrival = "poisson:rate=10";
    w.duration_s = 10;
    w.deadline_ms = {1000, 3000};
    w.seed = rng.next();
    return w;
  };
  const TrainResult a = train(p, o, scenario), b = train(p, o, scenario);
  for (int l = 0; l < 3; ++l) EXPECT_EQ(a.net.w[l], b.net.w[l]);
  o.seed = 2;
  const TrainResult c = train(p, o, scenario);
  EXPECT_NE(a.net.w[0], c.net.w[0]);
}

}  // namespace
}  // namespace tandem::router
