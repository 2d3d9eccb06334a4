#include "tandem/router/eval.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

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
