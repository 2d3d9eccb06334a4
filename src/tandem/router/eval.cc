#include "tandem/router/eval.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "tandem/base/error.h"

namespace tandem::router {

EvalReport evaluate(const sim::Profile& profile, const sim::SimOptions& sim,
                    const ScenarioOptions& scen, const EvalOptions& o,
                    const std::vector<std::shared_ptr<serve::Policy>>& policies) {
  EvalReport rep;
  for (const auto& p : policies) rep.policies.push_back(p->name());
  for (const auto& t : profile.tiers) rep.tiers.push_back(t.name);
  const Scale scale = workload_scale(profile, sim, scen);
  rep.big_capacity_rps = scale.capacity_rps.front();
  const auto workloads = eval_workloads(scale, scen, profile, o.seed, o.duration_s);
  for (const NamedWorkload& w : workloads) {
    const auto reqs = sim::make_workload(w.spec, profile.domains);
    if (o.ceilings)
      rep.ceilings_96.emplace_back(
          w.name, ceiling_96(profile, scale, sim.slots, reqs, o.window_s, w.spec.duration_s));
    for (const auto& p : policies) {
      const auto res = sim::simulate(profile, sim, reqs, *p);
      rep.cells.push_back({p->name(), w.name, w.shift,
                           sim::summarize(profile, res, o.window_s, w.spec.duration_s)});
    }
  }
  // Rate sweep.
  std::vector<double> grid;
  for (double m = o.sweep_lo; m <= o.sweep_hi * 1.0001; m *= o.sweep_step)
    grid.push_back(m * rep.big_capacity_rps);
  for (const auto& p : policies) {
    double best = 0;
    for (size_t k = 0; k < grid.size(); ++k) {
      sim::WorkloadSpec w;
      w.arrival = fmt::format("poisson:rate={:.6g}", grid[k]);
      w.duration_s = o.sweep_duration_s;
      w.prompt_tokens = scen.prompt_tokens;
      w.max_tokens = scen.max_tokens;
      w.deadline_ms = {static_cast<int64_t>(std::lround(scale.deadline_lo_s * 1000)),
                       static_cast<int64_t>(std::lround(scale.deadline_hi_s * 1000))};
      w.seed = o.seed + 31 * k;
      const auto reqs = sim::make_workload(w, profile.domains);
      const auto m =
          sim::summarize(profile, sim::simulate(profile, sim, reqs, *p), o.window_s, w.duration_s);
      if (m.availability < 0.99) break;
      best = grid[k];
    }
    rep.max_rate_rps.push_back(best);
  }
  return rep;
}

namespace {

struct Upgrade {
  double t, gain, extra_s, fast_s;
};

}  // namespace

double ceiling_96(const sim::Profile& profile, const Scale& scale, int slots,
                  const std::vector<sim::SimRequest>& reqs, double window_s, double duration_s) {
  const auto& cap = scale.capacity_rps;
  TANDEM_CHECK(cap.size() == profile.tiers.size(), "ceiling_96: {} capacities for {} tiers",
               cap.size(), profile.tiers.size());
  const int fastest = fastest_tier(scale);
  const sim::TierProfile& fast = profile.tiers[fastest];
  const int nw = std::max(1, static_cast<int>(std::ceil(duration_s / window_s)));
  std::vector<double> base(nw, 0), peak(nw, 0);
  std::vector<std::vector<Upgrade>> ups(nw);
  double longest_deadline_s = 0;
  for (const sim::SimRequest& r : reqs) {
    longest_deadline_s = std::max(longest_deadline_s, r.deadline_s);
    const int w = std::clamp(static_cast<int>(r.t / window_s), 0, nw - 1);
    const double fast_q = profile.quality(fastest, r.domain);
    const double fast_s = request_seconds(fast, slots, r.prompt_tokens, r.max_tokens);
    // The best gain any other tier offers and the cheapest extra cost of any other tier:
    // one upgrade may have both, which only raises the ceiling.
    double gain = 0, extra_s = std::numeric_limits<double>::infinity();
    for (size_t t = 0; t < cap.size(); ++t) {
      if (static_cast<int>(t) == fastest) continue;
      gain = std::max(gain, profile.quality(static_cast<int>(t), r.domain) - fast_q);
      extra_s = std::min(extra_s, std::max(0.0, request_seconds(profile.tiers[t], slots,
                                                                r.prompt_tokens, r.max_tokens) -
                                                    fast_s));
    }
    base[w] += fast_q;
    peak[w] += profile.peak(r.domain);
    ups[w].push_back({r.t, gain, extra_s, fast_s});
  }
  // A window's requests that arrive within [a, b) must be served within [a, b + longest
  // deadline): relaxing every other constraint, the gains there are at most a fractional
  // knapsack over the server time left after serving them all by the fastest tier, and
  // every request outside gains fully. The window's ceiling is the least such bound over
  // intervals on a grid of window_s / 20.
  const double grid_s = window_s / 20;
  int used = 0, held = 0;
  for (int w = 0; w < nw; ++w) {
    if (ups[w].empty()) continue;
    ++used;
    double all_gains = 0;
    for (const Upgrade& u : ups[w]) all_gains += u.gain;
    double best = all_gains;
    std::vector<const Upgrade*> inside;
    for (int i = 0; i < 20; ++i)
      for (int j = i + 1; j <= 20; ++j) {
        const double a = w * window_s + i * grid_s, b = w * window_s + j * grid_s;
        inside.clear();
        double budget_s = (b - a) + longest_deadline_s, gains_inside = 0;
        for (const Upgrade& u : ups[w])
          if (u.t >= a && u.t < b) {
            inside.push_back(&u);
            budget_s -= u.fast_s;
            gains_inside += u.gain;
          }
        std::sort(inside.begin(), inside.end(), [](const Upgrade* x, const Upgrade* y) {
          return x->gain * y->extra_s > y->gain * x->extra_s;
        });
        double got = 0;
        for (const Upgrade* u : inside) {
          if (budget_s <= 0) break;
          const double take = u->extra_s > 0 ? std::min(1.0, budget_s / u->extra_s) : 1.0;
          got += take * u->gain;
          budget_s -= take * u->extra_s;
        }
        best = std::min(best, all_gains - gains_inside + got);
      }
    if (peak[w] > 0 && base[w] + best >= 0.96 * peak[w]) ++held;
  }
  return used > 0 ? static_cast<double>(held) / used : 0.0;
}

std::pair<double, double> pooled_windows(const EvalReport& r, const std::string& policy) {
  int64_t n = 0, n96 = 0, n98 = 0;
  for (const EvalCell& c : r.cells) {
    if (c.policy != policy) continue;
    for (const sim::Window& w : c.m.windows) {
      ++n;
      if (w.quality_frac >= 0.96) ++n96;
      if (w.quality_frac >= 0.98) ++n98;
    }
  }
  if (n == 0) return {0, 0};
  return {static_cast<double>(n96) / static_cast<double>(n),
          static_cast<double>(n98) / static_cast<double>(n)};
}

SelectionScore selection_score(const EvalReport& statics, const EvalReport& one) {
  if (statics.policies.empty() || one.policies.size() != 1)
    fail("selection_score: needs the static policies' report and one candidate's");
  const std::string& ref = statics.policies.front();
  const std::string& cand = one.policies.front();
  SelectionScore s;
  s.max_rate_rps = one.max_rate_rps.front();
  s.pooled_96 = pooled_windows(one, cand).first;
  const double ref_rate = statics.max_rate_rps.front();
  s.rate_x = ref_rate > 0 ? s.max_rate_rps / ref_rate : (s.max_rate_rps > 0 ? 10.0 : 0.0);
  const auto ratio = [](double a, double b) {
    if (b > 0) return a / b;
    return a > 0 ? 4.0 : 1.0;
  };
  s.share_x = ratio(s.pooled_96, pooled_windows(statics, ref).first);
  s.worst_share_x = 1e9;
  for (const EvalCell& c : one.cells) {
    bool beaten = false;
    for (const EvalCell& st : statics.cells) {
      if (st.workload != c.workload) continue;
      if (st.policy == ref)
        s.worst_share_x = std::min(s.worst_share_x, ratio(c.m.windows_96, st.m.windows_96));
      beaten |= st.m.availability > c.m.availability && st.m.windows_96 > c.m.windows_96;
    }
    s.dominated += beaten ? 1 : 0;
  }
  if (s.worst_share_x > 1e8) s.worst_share_x = 0;
  s.score = std::min(1.0, s.rate_x / 5) + std::min(1.0, s.share_x / 2) +
            0.5 * std::min(1.0, s.worst_share_x / 2) +
            0.05 * (std::min(s.rate_x, 10.0) / 10 + std::min(s.share_x, 4.0) / 4) -
            0.25 * s.dominated;
  return s;
}

nlohmann::json SelectionScore::to_json() const {
  return {{"score", score},         {"rate_x", rate_x},
          {"share_x", share_x},     {"worst_share_x", worst_share_x},
          {"dominated", dominated}, {"max_rate_rps", max_rate_rps},
          {"pooled_96", pooled_96}};
}

std::string report_table(const EvalReport& r) {
  std::string s;
  std::vector<std::string> wl;
  for (const EvalCell& c : r.cells)
    if (std::find(wl.begin(), wl.end(), c.workload) == wl.end()) wl.push_back(c.workload);
  size_t width = 28;  // the policy column fits the longest name, up to 48 characters
  for (const std::string& p : r.policies) width = std::max(width, std::min<size_t>(p.size(), 48));
  s += fmt::format("{:<{}}", "policy", width);
  for (const auto& w : wl) s += fmt::format(" | {:^27}", w);
  s += fmt::format(" | {:^13} | {:>14}\n", "all windows", "max rate @99%");
  s += fmt::format("{:<{}}", "", width);
  for (size_t i = 0; i < wl.size(); ++i)
    s += fmt::format(" | {:>6} {:>6} {:>6} {:>6}", "avail", "qual", ">=96", ">=98");
  s += fmt::format(" | {:>6} {:>6} | {:>14}\n", ">=96", ">=98", "req/s (x big)");
  for (size_t p = 0; p < r.policies.size(); ++p) {
    s += fmt::format("{:<{}}", r.policies[p].substr(0, width), width);
    for (const auto& w : wl)
      for (const EvalCell& c : r.cells)
        if (c.policy == r.policies[p] && c.workload == w)
          s += fmt::format(" | {:>5.1f}% {:>5.1f}% {:>5.1f}% {:>5.1f}%", 100 * c.m.availability,
                           100 * c.m.quality_frac, 100 * c.m.windows_96, 100 * c.m.windows_98);
    const auto [p96, p98] = pooled_windows(r, r.policies[p]);
    s += fmt::format(" | {:>5.1f}% {:>5.1f}%", 100 * p96, 100 * p98);
    s += fmt::format(" | {:>6.2f} ({:>4.1f}x)\n", r.max_rate_rps[p],
                     r.big_capacity_rps > 0 && r.max_rate_rps[0] > 0
                         ? r.max_rate_rps[p] / r.max_rate_rps[0]
                         : 0.0);
  }
  if (!r.ceilings_96.empty()) {
    s += "ceiling of the >=96 share (no policy can hold more windows; optimistic):";
    for (const auto& [w, c] : r.ceilings_96) s += fmt::format(" {} {:.1f}%", w, 100 * c);
    s += "\n";
  }
  return s;
}

nlohmann::json report_json(const EvalReport& r) {
  nlohmann::json j;
  j["policies"] = r.policies;
  j["tiers"] = r.tiers;
  j["big_capacity_rps"] = r.big_capacity_rps;
  j["max_rate_rps"] = r.max_rate_rps;
  nlohmann::json pooled = nlohmann::json::array();
  for (const std::string& p : r.policies) {
    const auto [p96, p98] = pooled_windows(r, p);
    pooled.push_back({{"policy", p}, {"windows_96", p96}, {"windows_98", p98}});
  }
  j["pooled_windows"] = pooled;
  j["ceilings_96"] = nlohmann::json::array();
  for (const auto& [w, c] : r.ceilings_96)
    j["ceilings_96"].push_back({{"workload", w}, {"windows_96", c}});
  j["cells"] = nlohmann::json::array();
  for (const EvalCell& c : r.cells) {
    nlohmann::json w = nlohmann::json::array();
    for (const sim::Window& x : c.m.windows)
      w.push_back({{"t", x.t0},
                   {"requests", x.requests},
                   {"quality_frac", x.quality_frac},
                   {"availability", x.availability},
                   {"mean_latency_s", x.mean_latency_s},
                   {"tier_counts", x.tier_counts}});
    j["cells"].push_back({{"policy", c.policy},
                          {"workload", c.workload},
                          {"shift", c.shift},
                          {"requests", c.m.requests},
                          {"availability", c.m.availability},
                          {"quality_frac", c.m.quality_frac},
                          {"windows_96", c.m.windows_96},
                          {"windows_98", c.m.windows_98},
                          {"mean_latency_s", c.m.mean_latency_s},
                          {"p99_latency_s", c.m.p99_latency_s},
                          {"tier_share", c.m.tier_share},
                          {"windows", w}});
  }
  return j;
}

void run_plot(const std::string& python, const std::string& mode, const std::string& json,
              const std::string& png) {
  const std::string cmd = fmt::format("'{}' '{}/bench/router_plot.py' {} '{}' '{}'", python,
                                      TANDEM_ROUTER_SOURCE_DIR, mode, json, png);
  if (std::system(cmd.c_str()) != 0) fail("plotting failed: {}", cmd);
}

}  // namespace tandem::router
