#include "tandem/sim/simulator.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>

#include "tandem/base/error.h"

namespace tandem::sim {

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::kOnTime:
      return "on_time";
    case Outcome::kLate:
      return "late";
    case Outcome::kDropped:
      return "dropped";
    case Outcome::kQueueFull:
      return "queue_full";
    case Outcome::kRejected:
      return "rejected";
  }
  return "?";
}

namespace {

struct Pending {
  const SimRequest* r;
  int tier;
  int64_t tokens;
};

struct Seq {
  const SimRequest* r;
  int tier;
  int64_t prefill_left;         // prompt tokens still to feed to the big / ar model
  int64_t prefill_little_left;  // ... then to the little model (speculative tiers)
  double gen_left;              // tokens still to emit
  int64_t prefilling() const { return prefill_left > 0 ? prefill_left : prefill_little_left; }
};

class Sim {
 public:
  Sim(const Profile& p, const SimOptions& o, const std::vector<SimRequest>& reqs,
      const serve::Policy& policy, Observer* obs)
      : p_(p), o_(o), reqs_(reqs), policy_(policy), obs_(obs), results_(reqs.size()) {
    const size_t nt = p.tiers.size();
    tq_.assign(nt, 0);
    tr_.assign(nt, 0);
    tqt_.assign(nt, 0);
    tin_.assign(nt, 0);
    for (size_t i = 0; i < reqs.size(); ++i) {
      TANDEM_CHECK(i == 0 || reqs[i].t >= reqs[i - 1].t, "requests must be sorted by time");
      TANDEM_CHECK(reqs[i].domain >= 0 && reqs[i].domain < static_cast<int>(p.domains.size()),
                   "request {} has domain {} outside the profile", i, reqs[i].domain);
      RequestResult& res = results_[i];
      res.id = reqs[i].id;
      res.t = reqs[i].t;
      res.domain = reqs[i].domain;
      res.peak = p.peak(reqs[i].domain);
      res.deadline_s = reqs[i].deadline_s;
    }
  }

  std::vector<RequestResult> run() {
    size_t next = 0;
    double now = 0;
    while (next < reqs_.size() || !queue_.empty() || !running_.empty()) {
      if (queue_.empty() && running_.empty()) {
        now = std::max(now, reqs_[next].t);
        arrive(reqs_[next++]);
        continue;
      }
      expire(now);
      admit();
      // Work of this iteration: decodes first, then prompt chunks within the budget.
      const size_t nt = p_.tiers.size();
      IterationLoad il;
      il.decoding.assign(nt, 0);
      il.prefill_big.assign(nt, 0);
      il.prefill_little.assign(nt, 0);
      int64_t budget = o_.batch_tokens;
      for (const Seq& s : running_)
        if (s.prefilling() == 0) {
          ++il.decoding[s.tier];
          --budget;
        }
      std::vector<int64_t> chunk(running_.size(), 0);
      for (size_t i = 0; i < running_.size(); ++i) {
        Seq& s = running_[i];
        if (s.prefilling() == 0 || budget <= 0) continue;
        chunk[i] = std::min({s.prefilling(), o_.prefill_chunk, budget});
        budget -= chunk[i];
        (s.prefill_left > 0 ? il.prefill_big : il.prefill_little)[s.tier] += chunk[i];
      }
      const IterationCost cost = p_.iteration(il);
      const double dt = cost.seconds;
      if (running_.empty()) {
        // Everything queued expired; the next event is an arrival.
        if (next < reqs_.size()) {
          now = std::max(now, reqs_[next].t);
          arrive(reqs_[next++]);
        }
        continue;
      }
      const double end = now + dt;
      while (next < reqs_.size() && reqs_[next].t < end) arrive(reqs_[next++]);
      now = end;
      std::vector<Seq> still;
      for (size_t i = 0; i < running_.size(); ++i) {
        Seq s = running_[i];
        if (s.prefilling() > 0) {
          const bool big = s.prefill_left > 0;
          (big ? s.prefill_left : s.prefill_little_left) -= chunk[i];
          // The last prompt chunk of an ar tier also yields the first token (the engine's kLast).
          if (s.prefilling() == 0 && chunk[i] > 0 && !p_.tiers[s.tier].speculative())
            emit_tokens(s, 1.0);
        } else {
          emit_tokens(s, cost.tokens[s.tier]);
        }
        if (s.prefilling() == 0 && s.gen_left <= 1e-9) {
          finish(s, now);
        } else {
          still.push_back(s);
        }
      }
      running_.swap(still);
    }
    return std::move(results_);
  }

 private:
  serve::LoadState load() const {
    serve::LoadState l;
    l.tiers.resize(p_.tiers.size());
    for (size_t t = 0; t < p_.tiers.size(); ++t) {
      l.tiers[t].queued = tq_[t];
      l.tiers[t].running = tr_[t];
      l.tiers[t].queued_tokens = tqt_[t];
      l.tiers[t].inflight_tokens = tin_[t];
    }
    l.queued = static_cast<int64_t>(queue_.size());
    l.running = static_cast<int64_t>(running_.size());
    l.free_slots = o_.slots - static_cast<int64_t>(running_.size());
    l.arrival_rate = rate_ * std::exp(-(cur_t_ - last_arrival_) / 10.0);
    return l;
  }

  void arrive(const SimRequest& r) {
    cur_t_ = r.t;
    serve::RequestFeatures f;
    f.task = p_.domains[r.domain];
    f.prompt_tokens = r.prompt_tokens;
    f.max_tokens = r.max_tokens;
    f.deadline_s = serve::routing_deadline(r.deadline_s, o_.routing_deadline_s);
    const serve::LoadState l = load();
    int tier = policy_.choose(f, l);
    // The engine's EWMA counts the request after the policy saw the load.
    rate_ = rate_ * std::exp(-(r.t - last_arrival_) / 10.0) + 0.1;
    last_arrival_ = r.t;
    TANDEM_CHECK(
        tier == serve::Policy::kReject || (tier >= 0 && tier < static_cast<int>(p_.tiers.size())),
        "policy {} chose tier {} of {}", policy_.name(), tier, p_.tiers.size());
    if (obs_) obs_->on_decision(r, f, l, tier);
    RequestResult& res = results_[&r - reqs_.data()];
    res.tier = tier;
    if (tier == serve::Policy::kReject) {
      res.outcome = Outcome::kRejected;
      report(res);
      return;
    }
    const int64_t tokens = r.prompt_tokens + r.max_tokens;
    if (static_cast<int64_t>(queue_.size()) >= o_.max_queued_requests ||
        queued_tokens_ + tokens > o_.max_queued_tokens) {
      res.outcome = Outcome::kQueueFull;
      report(res);
      return;
    }
    queue_.push_back({&r, tier, tokens});
    queued_tokens_ += tokens;
    ++tq_[tier];
    tqt_[tier] += tokens;
  }

  void dequeue_counts(const Pending& q) {
    queued_tokens_ -= q.tokens;
    --tq_[q.tier];
    tqt_[q.tier] -= q.tokens;
  }

  void expire(double now) {
    if (o_.mode != DeadlineMode::kHard) return;
    std::vector<Seq> still;
    for (const Seq& s : running_) {
      if (s.r->deadline_s > 0 && now - s.r->t > s.r->deadline_s) {
        --tr_[s.tier];
        tin_[s.tier] -= static_cast<int64_t>(std::ceil(std::max(0.0, s.gen_left) - 1e-9));
        drop(s.r);
      } else {
        still.push_back(s);
      }
    }
    running_.swap(still);
    std::deque<Pending> keep;
    for (const Pending& q : queue_) {
      const double est_prefill =
          static_cast<double>(q.r->prompt_tokens) * p_.tiers[q.tier].prefill_token_s;
      if (q.r->deadline_s > 0 && now - q.r->t + est_prefill > q.r->deadline_s) {
        dequeue_counts(q);
        drop(q.r);
      } else {
        keep.push_back(q);
      }
    }
    queue_.swap(keep);
  }

  void admit() {
    while (!queue_.empty() && static_cast<int>(running_.size()) < o_.slots) {
      const Pending q = queue_.front();
      queue_.pop_front();
      dequeue_counts(q);
      const int64_t prompt = std::max<int64_t>(1, q.r->prompt_tokens);
      const bool spec = p_.tiers[q.tier].speculative();
      // Speculative tiers read prompt[0, n-1) into the big model, then into the little one.
      running_.push_back({q.r, q.tier, spec ? std::max<int64_t>(1, prompt - 1) : prompt,
                          spec ? std::max<int64_t>(1, prompt - 1) : 0,
                          static_cast<double>(std::max<int64_t>(1, q.r->max_tokens))});
      ++tr_[q.tier];
      tin_[q.tier] += std::max<int64_t>(1, q.r->max_tokens);
    }
  }

  void emit_tokens(Seq& s, double n) {
    const double before = s.gen_left;
    s.gen_left = std::max(0.0, s.gen_left - n);
    // In-flight tokens fall by whole tokens emitted.
    tin_[s.tier] -= static_cast<int64_t>(std::ceil(before - 1e-9)) -
                    static_cast<int64_t>(std::ceil(s.gen_left - 1e-9));
  }

  void finish(const Seq& s, double now) {
    --tr_[s.tier];
    tin_[s.tier] -= static_cast<int64_t>(std::ceil(std::max(0.0, s.gen_left) - 1e-9));
    RequestResult& res = results_[s.r - reqs_.data()];
    res.latency_s = now - s.r->t;
    const bool on_time = s.r->deadline_s <= 0 || res.latency_s <= s.r->deadline_s;
    res.outcome = on_time ? Outcome::kOnTime : Outcome::kLate;
    res.quality = on_time ? p_.quality(s.tier, s.r->domain) : 0.0;
    report(res);
  }

  // A request whose deadline passed (hard mode): recorded as dropped.
  void drop(const SimRequest* r) {
    RequestResult& res = results_[r - reqs_.data()];
    res.outcome = Outcome::kDropped;
    report(res);
  }

  void report(const RequestResult& res) {
    if (obs_) obs_->on_result(res);
  }

  const Profile& p_;
  const SimOptions& o_;
  const std::vector<SimRequest>& reqs_;
  const serve::Policy& policy_;
  Observer* obs_;
  std::vector<RequestResult> results_;
  std::deque<Pending> queue_;
  std::vector<Seq> running_;
  int64_t queued_tokens_ = 0;
  std::vector<int64_t> tq_, tr_, tqt_, tin_;
  double rate_ = 0, last_arrival_ = 0, cur_t_ = 0;
};

}  // namespace

std::vector<RequestResult> simulate(const Profile& profile, const SimOptions& options,
                                    const std::vector<SimRequest>& requests,
                                    const serve::Policy& policy, Observer* observer) {
  profile.validate("simulate");
  Sim sim(profile, options, requests, policy, observer);
  return sim.run();
}

SimMetrics summarize(const Profile& profile, const std::vector<RequestResult>& results,
                     double window_s, double duration_s) {
  SimMetrics m;
  const size_t nt = profile.tiers.size();
  m.requests = static_cast<int64_t>(results.size());
  m.tier_share.assign(nt + 1, 0);
  m.outcomes.assign(5, 0);
  const int nw = std::max(1, static_cast<int>(std::ceil(duration_s / window_s)));
  std::vector<double> wq(nw, 0), wp(nw, 0), wlat(nw, 0);
  std::vector<int64_t> wn(nw, 0), wok(nw, 0), wans(nw, 0);
  std::vector<std::vector<int64_t>> wtier(nw, std::vector<int64_t>(nt + 1, 0));
  double q = 0, peak = 0, lat = 0;
  int64_t ok = 0, answered = 0;
  std::vector<double> lats;
  for (const RequestResult& r : results) {
    ++m.outcomes[static_cast<int>(r.outcome)];
    const bool served = r.outcome == Outcome::kOnTime || r.outcome == Outcome::kLate ||
                        r.outcome == Outcome::kDropped;
    const size_t slot = served && r.tier >= 0 ? static_cast<size_t>(r.tier) : nt;
    m.tier_share[slot] += 1;
    q += r.quality;
    peak += r.peak;
    const int w = std::clamp(static_cast<int>(r.t / window_s), 0, nw - 1);
    ++wn[w];
    wq[w] += r.quality;
    wp[w] += r.peak;
    ++wtier[w][slot];
    if (r.outcome == Outcome::kOnTime) ++ok, ++wok[w];
    if (r.latency_s >= 0) {
      ++answered, ++wans[w];
      lat += r.latency_s;
      wlat[w] += r.latency_s;
      lats.push_back(r.latency_s);
    }
  }
  if (m.requests > 0) {
    m.availability = static_cast<double>(ok) / static_cast<double>(m.requests);
    for (double& s : m.tier_share) s /= static_cast<double>(m.requests);
  }
  m.quality_frac = peak > 0 ? q / peak : 0;
  m.mean_latency_s = answered ? lat / static_cast<double>(answered) : 0;
  if (!lats.empty()) {
    std::sort(lats.begin(), lats.end());
    m.p99_latency_s = lats[std::min(lats.size() - 1, static_cast<size_t>(0.99 * lats.size()))];
  }
  int64_t used = 0, n96 = 0, n98 = 0;
  for (int w = 0; w < nw; ++w) {
    if (wn[w] == 0) continue;
    Window win;
    win.t0 = w * window_s;
    win.requests = wn[w];
    win.quality_frac = wp[w] > 0 ? wq[w] / wp[w] : 0;
    win.availability = static_cast<double>(wok[w]) / static_cast<double>(wn[w]);
    win.mean_latency_s = wans[w] ? wlat[w] / static_cast<double>(wans[w]) : 0;
    win.tier_counts = wtier[w];
    ++used;
    if (win.quality_frac >= 0.96) ++n96;
    if (win.quality_frac >= 0.98) ++n98;
    m.windows.push_back(std::move(win));
  }
  if (used) {
    m.windows_96 = static_cast<double>(n96) / static_cast<double>(used);
    m.windows_98 = static_cast<double>(n98) / static_cast<double>(used);
  }
  return m;
}

std::vector<serve::TierSpec> policy_tiers(const Profile& profile) {
  std::vector<serve::TierSpec> tiers(profile.tiers.size());
  for (size_t i = 0; i < tiers.size(); ++i) tiers[i].name = profile.tiers[i].name;
  return tiers;
}

}  // namespace tandem::sim
