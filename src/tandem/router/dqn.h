// Double DQN training of the router against the simulator.
//
// Each episode simulates one workload (from a scenario function) with the
// policy being trained acting through serve::Policy, epsilon-greedy. Decision
// i (the i-th arrival) gives the transition (x_i, a_i, r_i, x_{i+1}), stored
// in the replay buffer once the request's outcome is known; r_i is
//   on time:  min(1, quality(tier, task) / peak(task))   (in [0, 1]; a tier
//             measured above the best one earns what the best one earns)
//   late / dropped / 429:  hard mode: miss_penalty;
//                          soft mode (late only): quality/peak * max(0, 1 - overrun/deadline)
//                          + miss_penalty * min(1, overrun/deadline)
//   rejected by the policy: reject_reward
// Every `train_every` decisions (after `warmup` transitions) one minibatch
// update of the online net towards the Double DQN target
//   y = r + gamma * Q_target(x', argmax_a Q_online(x', a))   (y = r at episode end)
// with the Huber loss and Adam; the target net is copied every `target_sync`
// updates. Epsilon falls linearly from eps_start to eps_end over the first
// eps_fraction of the episodes; the learning rate is constant or (lr_end >= 0)
// falls linearly from lr to lr_end over all episodes. Everything random draws from `seed`
// (loadgen::Rng streams), so a run is reproducible bit for bit on one machine.
//
// Model selection (optional, `validator` set and `val_every` > 0): every
// `val_every` episodes from episode `val_from` x episodes on, and after the
// last one, the greedy policy of the online net is scored by the validator
// (the CLI scores it on the validation workloads, never on held-out ones); the
// result's net is the best-scoring checkpoint (the earliest on ties), not the
// last one. DQN's greedy policy changes a lot between nearby updates, so the
// last net is a poor, seed-dependent pick. train_seeds() repeats train() for
// several seeds and picks the seed whose best checkpoint scores highest.
// Not thread-safe; train() runs on the calling thread.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tandem/router/mlp.h"
#include "tandem/router/policy_file.h"
#include "tandem/sim/simulator.h"

namespace tandem::router {

struct TrainOptions {
  int episodes = 800;
  uint64_t seed = 1;
  int hidden1 = 64, hidden2 = 64;
  double lr = 3e-4;
  double lr_end = -1;  // < 0: constant lr; else linear from lr (first episode) to lr_end (last)
  double gamma = 0.8;
  int batch = 64;
  int replay = 50000;
  int warmup = 500;
  int train_every = 2;
  int target_sync = 500;
  double eps_start = 1.0, eps_end = 0.05, eps_fraction = 0.6;
  double miss_penalty = -5.0;
  double reject_reward = -0.2;
  bool reject = false;    // offer "reject now" as an action
  int val_every = 0;      // episodes between validations (0: keep the last net)
  double val_from = 0.5;  // first validation at this fraction of the episodes
  sim::SimOptions sim;
};

// A validation score (higher is better) and what it was computed from.
struct Validation {
  double score = 0;
  nlohmann::json detail = nlohmann::json::object();
};
using Validator = std::function<Validation(const LearnedPolicy&)>;

struct Checkpoint {
  int episode = 0;  // validated after this episode (0-based)
  Validation v;
};

struct EpisodeStats {
  int episode = 0;
  double epsilon = 0;
  double mean_reward = 0;
  double availability = 0;
  double quality_frac = 0;
  double loss = 0;  // mean Huber loss of the episode's updates
  int64_t requests = 0;
  std::string arrival;
};

struct TrainResult {
  uint64_t seed = 0;
  FeatureLayout layout;
  Mlp net;  // the best checkpoint's with a validator, else the last
  std::vector<EpisodeStats> curve;
  std::vector<Checkpoint> checkpoints;  // empty without a validator
  int best = -1;                        // index into checkpoints

  // The kept checkpoint (nullptr without a validator) and the episode whose net
  // is kept (the last one without a validator).
  const Checkpoint* best_checkpoint() const {
    return best >= 0 ? &checkpoints[static_cast<size_t>(best)] : nullptr;
  }
  int best_episode() const {
    return best >= 0 ? best_checkpoint()->episode : static_cast<int>(curve.size()) - 1;
  }
};

// The reward of one finished request (the formula above).
double reward(const sim::Profile& profile, const TrainOptions& options,
              const sim::RequestResult& result);

using Scenario = std::function<sim::WorkloadSpec(int episode, loadgen::Rng& rng)>;

TrainResult train(const sim::Profile& profile, const TrainOptions& options,
                  const Scenario& scenario,
                  const std::function<void(const EpisodeStats&)>& on_episode = {},
                  const Validator& validator = {});

struct SeedsResult {
  std::vector<TrainResult> runs;  // one per seed, in order
  size_t best = 0;                // the run whose best checkpoint scores highest (first on ties)
};
// train() for seeds options.seed, options.seed + 1, ..., options.seed + n - 1.
// Needs a validator and val_every > 0 when n > 1. on_episode gets (run, stats).
SeedsResult train_seeds(const sim::Profile& profile, const TrainOptions& options, int n,
                        const Scenario& scenario, const Validator& validator,
                        const std::function<void(int, const EpisodeStats&)>& on_episode = {});

nlohmann::json curve_to_json(const std::vector<EpisodeStats>& curve);
nlohmann::json checkpoints_to_json(const std::vector<Checkpoint>& checkpoints);

}  // namespace tandem::router
