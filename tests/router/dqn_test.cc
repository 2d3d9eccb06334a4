#include "tandem/router/dqn.h"

#include <gtest/gtest.h>

#include "tandem/base/error.h"
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

// Model selection: the kept net is the checkpoint the validator scored highest
// (not the last), and train_seeds keeps the seed whose best checkpoint scores
// highest. The validator here hands out scores from a fixed list in call order
// and remembers each net it saw, so the expected pick is known in advance.
TEST(Dqn, SelectionKeepsTheValidationBestCheckpointAndSeed) {
  const sim::Profile p = two_tiers();
  TrainOptions o = fast_options();
  o.episodes = 4;
  o.val_every = 2;
  o.val_from = 0;  // validations after episodes 2 and 4
  auto scenario = [](int e, loadgen::Rng& rng) {
    sim::WorkloadSpec w;
    w.arrival = "poisson:rate=10";
    w.duration_s = 10;
    w.deadline_ms = {1000, 3000};
    w.seed = rng.next() + static_cast<uint64_t>(e);
    return w;
  };
  std::vector<double> scores;
  std::vector<Mlp> seen;
  size_t calls = 0;
  const Validator validator = [&](const LearnedPolicy& pol) {
    seen.push_back(pol.net());
    Validation v;
    v.score = scores.at(calls++);
    v.detail = {{"call", calls}};
    return v;
  };

  // One seed: the first of two checkpoints scores higher.
  scores = {0.9, 0.2};
  const TrainResult one = train(p, o, scenario, {}, validator);
  ASSERT_EQ(one.checkpoints.size(), 2u);
  EXPECT_EQ(one.checkpoints[0].episode, 1);
  EXPECT_EQ(one.checkpoints[1].episode, 3);
  EXPECT_EQ(one.best, 0);
  for (int l = 0; l < 3; ++l) EXPECT_EQ(one.net.w[l], seen[0].w[l]);
  EXPECT_NE(one.net.w[2], seen[1].w[2]);  // the last net was a different one

  // Three seeds: seed 2's first checkpoint (0.7) is the best of all.
  calls = 0;
  seen.clear();
  scores = {0.1, 0.3, 0.7, 0.4, 0.6, 0.5};
  const SeedsResult all = train_seeds(p, o, 3, scenario, validator);
  ASSERT_EQ(all.runs.size(), 3u);
  EXPECT_EQ(all.best, 1u);
  EXPECT_EQ(all.runs[0].seed, 1u);
  EXPECT_EQ(all.runs[1].seed, 2u);
  EXPECT_EQ(all.runs[0].best, 1);
  EXPECT_EQ(all.runs[1].best, 0);
  EXPECT_EQ(all.runs[2].best, 0);
  for (int l = 0; l < 3; ++l) EXPECT_EQ(all.runs[1].net.w[l], seen[2].w[l]);

  // Several seeds without validation cannot choose.
  EXPECT_THROW(train_seeds(p, o, 2, scenario, {}), Error);
}

// The reward caps quality at the peak: a tier measured above the best one (the
// demo BiLD tier scores 102 % of peak, ROUGE noise) earns exactly what the best
// tier earns, never more; below the peak the ratio is kept.
TEST(Dqn, RewardCapsQualityAtThePeak) {
  sim::Profile p = two_tiers();
  p.tiers[1].quality = {0.51, 0.2};  // "little" beats big (0.5) on code, not on prose
  TrainOptions o = fast_options();
  sim::RequestResult r;
  r.outcome = sim::Outcome::kOnTime;
  r.domain = 0;
  r.peak = p.peak(0);
  r.tier = 1;
  EXPECT_DOUBLE_EQ(reward(p, o, r), 1.0);  // 0.51 / 0.5 = 1.02, capped
  r.tier = 0;
  EXPECT_DOUBLE_EQ(reward(p, o, r), 1.0);
  r.domain = 1;
  r.peak = p.peak(1);
  r.tier = 1;
  EXPECT_DOUBLE_EQ(reward(p, o, r), 0.5);  // 0.2 / 0.4
  // Soft mode, half the deadline late: the capped quality times (1 - 0.5).
  o.sim.mode = sim::DeadlineMode::kSoft;
  r.domain = 0;
  r.peak = p.peak(0);
  r.outcome = sim::Outcome::kLate;
  r.deadline_s = 1;
  r.latency_s = 1.5;
  EXPECT_DOUBLE_EQ(reward(p, o, r), 0.5 * 1.0 + 0.5 * o.miss_penalty);
  o.sim.mode = sim::DeadlineMode::kHard;
  EXPECT_DOUBLE_EQ(reward(p, o, r), o.miss_penalty);
}

}  // namespace
}  // namespace tandem::router
