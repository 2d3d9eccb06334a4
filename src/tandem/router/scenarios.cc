#include "tandem/router/scenarios.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace tandem::router {

double request_seconds(const sim::TierProfile& t, int slots, double prompt_tokens,
                       double output_tokens) {
  const double iteration_s = t.step_base_s + t.step_per_seq_s * (slots - 1);
  return output_tokens * iteration_s / slots + prompt_tokens * t.prefill_token_s;
}

int fastest_tier(const Scale& s) {
  return static_cast<int>(std::max_element(s.capacity_rps.begin(), s.capacity_rps.end()) -
                          s.capacity_rps.begin());
}

Scale workload_scale(const sim::Profile& p, const sim::SimOptions& sim, const ScenarioOptions& o) {
  Scale s;
  s.mean_prompt = 0.5 * static_cast<double>(o.prompt_tokens.lo + o.prompt_tokens.hi);
  s.mean_output = 0.5 * static_cast<double>(o.max_tokens.lo + o.max_tokens.hi);
  for (const sim::TierProfile& t : p.tiers) {
    const double per_req = request_seconds(t, sim.slots, s.mean_prompt, s.mean_output);
    s.capacity_rps.push_back(1.0 / per_req);
    s.fastest_rps = std::max(s.fastest_rps, 1.0 / per_req);
  }
  const sim::TierProfile& best = p.tiers.front();
  s.unloaded_s = s.mean_prompt * best.prefill_token_s + (s.mean_output + 1) * best.step_base_s;
  s.deadline_lo_s = o.deadline_lo * s.unloaded_s;
  s.deadline_hi_s = o.deadline_hi * s.unloaded_s;
  return s;
}

namespace {

sim::WorkloadSpec base_spec(const Scale& s, const ScenarioOptions& o, uint64_t seed, double dur) {
  sim::WorkloadSpec w;
  w.duration_s = dur;
  w.prompt_tokens = o.prompt_tokens;
  w.max_tokens = o.max_tokens;
  w.deadline_ms = {static_cast<int64_t>(std::lround(s.deadline_lo_s * 1000)),
                   static_cast<int64_t>(std::lround(s.deadline_hi_s * 1000))};
  w.seed = seed;
  return w;
}

}  // namespace

sim::WorkloadSpec training_workload(const Scale& s, const ScenarioOptions& o,
                                    const std::vector<std::string>& domains, loadgen::Rng& rng) {
  sim::WorkloadSpec w = base_spec(s, o, 1000 + rng.below(1u << 30), o.episode_s);
  // Some episodes without deadlines, and varied output lengths, so that the policy has
  // seen such requests (the live server gets them) -- evaluation keeps the fixed ranges.
  if (rng.uniform() < o.no_deadline_share) w.deadline_ms = {0, 0};
  if (rng.uniform() < 0.3) {
    const int64_t lo_t = 4 + static_cast<int64_t>(rng.below(60));
    w.max_tokens = {lo_t, lo_t + static_cast<int64_t>(rng.below(96))};
  }
  if (o.skewed_mix_share > 0 && domains.size() > 1 && rng.uniform() < o.skewed_mix_share) {
    const size_t top = rng.below(static_cast<uint32_t>(domains.size()));
    const double weight = 2 + 6 * rng.uniform();
    std::string mix;
    for (size_t d = 0; d < domains.size(); ++d)
      mix += fmt::format("{}{}={:.3g}", d ? "," : "", domains[d], d == top ? weight : 1.0);
    w.mix = mix;
  }
  const double lo = o.rate_lo * s.capacity_rps.front(), hi = o.rate_hi * s.fastest_rps;
  const double rate = lo * std::pow(std::max(hi, lo) / lo, rng.uniform());
  if (rng.uniform() < 0.5) {
    w.arrival = fmt::format("poisson:rate={:.4g}", rate);
  } else {
    // Mean rate `rate`: 2x during "on" phases, half of it during twice as long "off" ones.
    const double on_s = 2 + 8 * rng.uniform();
    w.arrival = fmt::format("bursty:on={:.4g},off={:.4g},on_s={:.3g},off_s={:.3g}", 2 * rate,
                            rate / 2, on_s, 2 * on_s);
  }
  return w;
}

std::vector<std::string> domains_by_fastest_tier_quality(const Scale& s, const sim::Profile& p) {
  const int fastest = fastest_tier(s);
  std::vector<int> order(p.domains.size());
  for (size_t d = 0; d < order.size(); ++d) order[d] = static_cast<int>(d);
  auto frac = [&](int d) {
    const double peak = p.peak(d);
    return peak > 0 ? p.quality(fastest, d) / peak : 1.0;
  };
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return frac(a) > frac(b); });
  std::vector<std::string> out;
  for (int d : order) out.push_back(p.domains[d]);
  return out;
}

std::vector<NamedWorkload> eval_workloads(const Scale& s, const ScenarioOptions& o,
                                          const sim::Profile& p, uint64_t seed, double dur) {
  // Loads between the best tier's capacity (cap) and the fastest tier's (fast).
  const double cap = s.capacity_rps.front(), fast = s.fastest_rps;
  std::vector<NamedWorkload> out;
  auto add = [&](std::string name, std::string shift, std::string arrival, std::string mix) {
    sim::WorkloadSpec w = base_spec(s, o, seed + 7919 * (out.size() + 1), dur);
    w.arrival = std::move(arrival);
    w.mix = std::move(mix);
    out.push_back({std::move(name), std::move(shift), w});
  };
  add("bursty", "none",
      fmt::format("bursty:on={:.4g},off={:.4g},on_s=6,off_s=14", 0.9 * fast, 0.3 * cap), "uniform");
  add("heavy", "arrival", fmt::format("heavy:rate={:.4g},alpha=1.4,burst=12,spread=2", 0.3 * fast),
      "uniform");
  add("diurnal", "arrival",
      fmt::format("diurnal:min={:.4g},max={:.4g},period={:.4g}", 0.1 * cap, 0.9 * fast, dur / 2),
      "uniform");
  // Task-mix shifts: bursty load whose mix swings from `from`-heavy to `to`-heavy mid-run.
  auto mix_shift = [&](std::string name, const std::string& from, const std::string& to) {
    add(std::move(name), "task-mix",
        fmt::format("bursty:on={:.4g},off={:.4g},on_s=6,off_s=14", 0.8 * fast, 0.3 * cap),
        fmt::format("{}=6,{}=1|{}=1,{}=6@{:.4g}", from, to, from, to, dur / 2));
  };
  // The first and last domains dominate in turn.
  mix_shift("mix-shift", p.domains.front(), p.domains.back());
  // Towards the requests the fast tier serves worst: from the domain where the fastest tier
  // comes closest to the peak to the one where it falls furthest behind.
  const std::vector<std::string> ranked = domains_by_fastest_tier_quality(s, p);
  mix_shift("mix-to-worst", ranked.front(), ranked.back());
  return out;
}

}  // namespace tandem::router
