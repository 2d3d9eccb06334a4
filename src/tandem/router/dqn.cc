#include "tandem/router/dqn.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "tandem/base/error.h"

namespace tandem::router {
namespace {

struct Transition {
  Vec x;
  int a = 0;
  double r = 0;
  Vec next;  // empty: terminal
};

class Replay {
 public:
  explicit Replay(size_t cap) : cap_(cap) {}
  void push(Transition t) {
    if (buf_.size() < cap_) {
      buf_.push_back(std::move(t));
    } else {
      buf_[pos_] = std::move(t);
      pos_ = (pos_ + 1) % cap_;
    }
  }
  size_t size() const { return buf_.size(); }
  const Transition& at(size_t i) const { return buf_[i]; }

 private:
  size_t cap_, pos_ = 0;
  std::vector<Transition> buf_;
};

class Agent final : public serve::Policy, public sim::Observer {
 public:
  Agent(const sim::Profile& p, const TrainOptions& o, FeatureLayout layout)
      : p_(p),
        o_(o),
        layout_(std::move(layout)),
        online_(layout_.size(), o.hidden1, o.hidden2, layout_.actions(), o.seed),
        target_(online_),
        adam_(online_, o.lr),
        replay_(static_cast<size_t>(o.replay)),
        rng_(o.seed, 7) {}

  std::string name() const override { return "dqn-training"; }
  int choose(const serve::RequestFeatures& f, const serve::LoadState& load) const override {
    const Vec x = layout_.encode(f, load);
    int a;
    if (rng_.uniform() < epsilon_) {
      a = static_cast<int>(rng_.below(static_cast<uint64_t>(layout_.actions())));
    } else {
      a = greedy_action(online_, x);
    }
    return layout_.action_to_tier(a);
  }

  void begin_episode(double eps, double lr) {
    epsilon_ = eps;
    adam_.lr = lr;
    pending_.clear();
    loss_sum_ = 0;
    loss_n_ = 0;
    reward_sum_ = 0;
    reward_n_ = 0;
  }

  void on_decision(const sim::SimRequest& r, const serve::RequestFeatures& f,
                   const serve::LoadState& load, int tier) override {
    const size_t i = static_cast<size_t>(r.id);
    if (pending_.size() <= i) pending_.resize(i + 1);
    Pending& d = pending_[i];
    d.x = layout_.encode(f, load);
    d.a = tier == kReject ? static_cast<int>(layout_.tiers.size()) : tier;
    d.active = true;
    if (i > 0 && pending_[i - 1].active) {
      pending_[i - 1].next = d.x;
      pending_[i - 1].has_next = true;
      maybe_store(i - 1);
    }
    if (++decisions_ % static_cast<uint64_t>(std::max(1, o_.train_every)) == 0 &&
        replay_.size() >= static_cast<size_t>(std::max(o_.warmup, o_.batch)))
      update();
  }

  void on_result(const sim::RequestResult& res) override {
    Pending& d = pending_[static_cast<size_t>(res.id)];
    d.r = reward(res);
    d.has_r = true;
    reward_sum_ += d.r;
    ++reward_n_;
    maybe_store(static_cast<size_t>(res.id));
  }

  void end_episode() {
    for (size_t i = 0; i < pending_.size(); ++i)
      if (pending_[i].active && pending_[i].has_r) {
        // The last decision(s): terminal.
        replay_.push({pending_[i].x, pending_[i].a, pending_[i].r, Vec()});
        pending_[i].active = false;
      }
  }

  double mean_loss() const { return loss_n_ ? loss_sum_ / loss_n_ : 0; }
  double mean_reward() const { return reward_n_ ? reward_sum_ / reward_n_ : 0; }
  const Mlp& net() const { return online_; }
  const FeatureLayout& layout() const { return layout_; }

 private:
  struct Pending {
    Vec x, next;
    int a = 0;
    double r = 0;
    bool has_r = false, has_next = false, active = false;
  };

  double reward(const sim::RequestResult& res) const { return router::reward(p_, o_, res); }

  void maybe_store(size_t i) {
    Pending& d = pending_[i];
    if (!d.active || !d.has_r || !d.has_next) return;
    replay_.push({std::move(d.x), d.a, d.r, std::move(d.next)});
    d.active = false;
  }

  void update() {
    const int n = o_.batch;
    const int in = layout_.size();
    Mat x(in, n), xn(in, n);
    std::vector<int> act(n);
    std::vector<double> r(n);
    std::vector<bool> term(n);
    for (int k = 0; k < n; ++k) {
      const Transition& t = replay_.at(rng_.below(replay_.size()));
      x.col(k) = t.x;
      act[k] = t.a;
      r[k] = t.r;
      term[k] = t.next.size() == 0;
      xn.col(k) = term[k] ? Vec::Zero(in) : t.next;
    }
    const Mat q = online_.forward(x);
    const Mat qn_online = online_.forward(xn);
    const Mat qn_target = target_.forward(xn);
    Mat dy = Mat::Zero(q.rows(), n);
    double loss = 0;
    for (int k = 0; k < n; ++k) {
      double y = r[k];
      if (!term[k]) {
        Eigen::Index best = 0;
        qn_online.col(k).maxCoeff(&best);  // Double DQN: online picks, target values
        y += o_.gamma * qn_target(best, k);
      }
      const double e = q(act[k], k) - y;
      loss += std::abs(e) <= 1 ? 0.5 * e * e : std::abs(e) - 0.5;
      dy(act[k], k) = std::clamp(e, -1.0, 1.0) / n;
    }
    adam_.step(online_, online_.backward(x, dy));
    loss_sum_ += loss / n;
    ++loss_n_;
    if (++updates_ % static_cast<uint64_t>(std::max(1, o_.target_sync)) == 0) target_ = online_;
  }

  const sim::Profile& p_;
  const TrainOptions& o_;
  FeatureLayout layout_;
  Mlp online_, target_;
  Adam adam_;
  Replay replay_;
  mutable loadgen::Rng rng_;
  double epsilon_ = 1;
  std::vector<Pending> pending_;
  uint64_t decisions_ = 0, updates_ = 0;
  double loss_sum_ = 0, reward_sum_ = 0;
  int64_t loss_n_ = 0, reward_n_ = 0;
};

}  // namespace

double reward(const sim::Profile& p, const TrainOptions& o, const sim::RequestResult& res) {
  // Capped at 1: a tier that scores above the best one (BiLD's 102 % of peak is
  // ROUGE noise around lossless decoding) earns no more than the best tier.
  const double qn = res.peak > 0 ? std::min(1.0, p.quality(res.tier, res.domain) / res.peak) : 0;
  switch (res.outcome) {
    case sim::Outcome::kOnTime:
      return qn;
    case sim::Outcome::kRejected:
      return o.reject_reward;
    case sim::Outcome::kLate:
      if (o.sim.mode == sim::DeadlineMode::kSoft && res.deadline_s > 0) {
        const double over = std::min(1.0, (res.latency_s - res.deadline_s) / res.deadline_s);
        return qn * (1 - over) + o.miss_penalty * over;
      }
      return o.miss_penalty;
    default:
      return o.miss_penalty;
  }
}

TrainResult train(const sim::Profile& profile, const TrainOptions& o, const Scenario& scenario,
                  const std::function<void(const EpisodeStats&)>& on_episode,
                  const Validator& validator) {
  profile.validate("train");
  if (o.episodes <= 0) fail("train: episodes must be positive");
  FeatureLayout layout;
  layout.domains = profile.domains;
  for (const sim::TierProfile& t : profile.tiers) {
    layout.tiers.push_back(t.name);
    layout.costs.push_back({t.step_base_s, t.step_per_seq_s, t.prefill_token_s});
  }
  layout.slots = o.sim.slots;
  layout.reject = o.reject;
  Agent agent(profile, o, layout);
  loadgen::Rng scen_rng(o.seed, 11);
  TrainResult result;
  result.seed = o.seed;
  const bool validating = validator && o.val_every > 0;
  const int val_first = static_cast<int>(std::floor(o.val_from * o.episodes));
  for (int e = 0; e < o.episodes; ++e) {
    const double frac = static_cast<double>(e) / std::max(1.0, o.episodes * o.eps_fraction);
    const double eps = frac >= 1 ? o.eps_end : o.eps_start + (o.eps_end - o.eps_start) * frac;
    const sim::WorkloadSpec spec = scenario(e, scen_rng);
    const auto reqs = sim::make_workload(spec, profile.domains);
    const double lr = o.lr_end < 0 ? o.lr
                                   : o.lr + (o.lr_end - o.lr) * static_cast<double>(e) /
                                                std::max(1, o.episodes - 1);
    agent.begin_episode(eps, lr);
    const auto res = sim::simulate(profile, o.sim, reqs, agent, &agent);
    agent.end_episode();
    const sim::SimMetrics m = sim::summarize(profile, res, 10, spec.duration_s);
    EpisodeStats st;
    st.episode = e;
    st.epsilon = eps;
    st.mean_reward = agent.mean_reward();
    st.availability = m.availability;
    st.quality_frac = m.quality_frac;
    st.loss = agent.mean_loss();
    st.requests = m.requests;
    st.arrival = spec.arrival;
    result.curve.push_back(st);
    if (validating && ((e + 1 >= val_first && (e + 1) % o.val_every == 0) || e + 1 == o.episodes)) {
      LearnedPolicy pol(agent.layout(), agent.net(), "validation");
      Checkpoint c{e, validator(pol)};
      if (!result.best_checkpoint() || c.v.score > result.best_checkpoint()->v.score) {
        result.best = static_cast<int>(result.checkpoints.size());
        result.net = agent.net();
      }
      result.checkpoints.push_back(std::move(c));
    }
    if (on_episode) on_episode(st);
  }
  result.layout = agent.layout();
  if (!validating) result.net = agent.net();
  return result;
}

SeedsResult train_seeds(const sim::Profile& profile, const TrainOptions& options, int n,
                        const Scenario& scenario, const Validator& validator,
                        const std::function<void(int, const EpisodeStats&)>& on_episode) {
  if (n <= 0) fail("train: the number of seeds must be positive, got {}", n);
  if (n > 1 && (!validator || options.val_every <= 0))
    fail("train: choosing among {} seeds needs validation (val_every > 0)", n);
  SeedsResult out;
  for (int k = 0; k < n; ++k) {
    TrainOptions o = options;
    o.seed = options.seed + static_cast<uint64_t>(k);
    out.runs.push_back(train(
        profile, o, scenario,
        [&](const EpisodeStats& s) {
          if (on_episode) on_episode(k, s);
        },
        validator));
    const auto score = [](const TrainResult& r) {
      return r.best_checkpoint() ? r.best_checkpoint()->v.score : 0.0;
    };
    if (score(out.runs.back()) > score(out.runs[out.best])) out.best = out.runs.size() - 1;
  }
  return out;
}

nlohmann::json curve_to_json(const std::vector<EpisodeStats>& curve) {
  nlohmann::json a = nlohmann::json::array();
  for (const EpisodeStats& s : curve)
    a.push_back({{"episode", s.episode},
                 {"epsilon", s.epsilon},
                 {"mean_reward", s.mean_reward},
                 {"availability", s.availability},
                 {"quality_frac", s.quality_frac},
                 {"loss", s.loss},
                 {"requests", s.requests},
                 {"arrival", s.arrival}});
  return a;
}

nlohmann::json checkpoints_to_json(const std::vector<Checkpoint>& checkpoints) {
  nlohmann::json a = nlohmann::json::array();
  for (const Checkpoint& c : checkpoints)
    a.push_back({{"episode", c.episode}, {"score", c.v.score}, {"detail", c.v.detail}});
  return a;
}

}  // namespace tandem::router
