// Double DQN training of the router against the simulator.
//
// Each episode simulates one workload (from a scenario function) with the
// policy being trained acting through serve::Policy, epsilon-greedy. Decision
// i (the i-th arrival) gives the transition (x_i, a_i, r_i, x_{i+1}), stored
// in the replay buffer once the request's outcome is known; r_i is
//   on time:  quality(tier, task) / peak(task)        (in [0, 1])
//   late / dropped / 429:  hard mode: miss_penalty;
//                          soft mode (late only): quality/peak * max(0, 1 - overrun/deadline)
//                          + miss_penalty * min(1, overrun/deadline)
//   rejected by the policy: reject_reward
// Every `train_every` decisions (after `warmup` transitions) one minibatch
// update of the online net towards the Double DQN target
//   y = r + gamma * Q_target(x', argmax_a Q_online(x', a))   (y = r at episode end)
// with the Huber loss and Adam; the target net is copied every `target_sync`
// updates. Epsilon falls linearly from eps_start to eps_end over the first
// eps_fraction of the episodes. Everything random draws from `seed`
// (loadgen::Rng streams), so a run is reproducible bit for bit on one machine.
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
  double gamma = 0.8;
  int batch = 64;
  int replay = 50000;
  int warmup = 500;
  int train_every = 2;
  int target_sync = 500;
  double eps_start = 1.0, eps_end = 0.05, eps_fraction = 0.6;
  double miss_penalty = -5.0;
  double reject_reward = -0.2;
  bool reject = false;  // offer "reject now" as an action
  sim::SimOptions sim;
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
  FeatureLayout layout;
  Mlp net;
  std::vector<EpisodeStats> curve;
};

using Scenario = std::function<sim::WorkloadSpec(int episode, loadgen::Rng& rng)>;

TrainResult train(const sim::Profile& profile, const TrainOptions& options,
                  const Scenario& scenario,
                  const std::function<void(const EpisodeStats&)>& on_episode = {});

nlohmann::json curve_to_json(const std::vector<EpisodeStats>& curve);

}  // namespace tandem::router
