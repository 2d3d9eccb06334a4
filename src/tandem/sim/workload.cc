#include "tandem/sim/workload.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "tandem/base/error.h"

namespace tandem::sim {

HeavyTailArrival::HeavyTailArrival(double rate, double alpha, double burst, double spread)
    : rate_(rate), alpha_(alpha), burst_(burst), spread_(spread) {
  if (!(rate > 0) || !std::isfinite(rate)) fail("heavy: rate must be > 0, got {}", rate);
  if (!(alpha > 1) || !std::isfinite(alpha)) fail("heavy: alpha must be > 1, got {}", alpha);
  if (!(burst >= 1) || !std::isfinite(burst)) fail("heavy: burst must be >= 1, got {}", burst);
  if (!(spread >= 0) || !std::isfinite(spread)) fail("heavy: spread must be >= 0, got {}", spread);
}

std::vector<double> HeavyTailArrival::generate(double duration, loadgen::Rng& rng) const {
  std::vector<double> out;
  // Pareto with mean `burst_`: x_m = burst * (alpha - 1) / alpha.
  const double xm = burst_ * (alpha_ - 1) / alpha_;
  const double burst_rate = rate_ / burst_;
  for (double t = rng.exponential(burst_rate); t < duration; t += rng.exponential(burst_rate)) {
    const double u = 1.0 - rng.uniform();  // (0, 1]
    const double size = xm / std::pow(u, 1.0 / alpha_);
    // Round stochastically so the mean is kept.
    int64_t n = static_cast<int64_t>(std::floor(size));
    if (rng.uniform() < size - std::floor(size)) ++n;
    n = std::min<int64_t>(n, 100000);
    for (int64_t i = 0; i < n; ++i) {
      const double a = t + rng.uniform() * spread_;
      if (a < duration) out.push_back(a);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string HeavyTailArrival::spec() const {
  return fmt::format("heavy:rate={},alpha={},burst={},spread={}", rate_, alpha_, burst_, spread_);
}

namespace {

double number(std::string_view text, std::string_view what) {
  double v = 0;
  const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || !std::isfinite(v))
    fail("{}: '{}' is not a number", what, text);
  return v;
}

std::map<std::string, std::string, std::less<>> split_params(std::string_view args,
                                                             std::string_view spec) {
  std::map<std::string, std::string, std::less<>> kv;
  size_t pos = 0;
  while (pos < args.size()) {
    const size_t end = std::min(args.find(',', pos), args.size());
    const std::string_view item = args.substr(pos, end - pos);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) fail("'{}': expected key=value, got '{}'", spec, item);
    kv[std::string(item.substr(0, eq))] = std::string(item.substr(eq + 1));
    pos = end + 1;
  }
  return kv;
}

}  // namespace

std::unique_ptr<loadgen::ArrivalProcess> parse_sim_arrival(std::string_view spec) {
  if (spec.rfind("heavy:", 0) != 0 && spec != "heavy") return loadgen::parse_arrival(spec);
  const auto kv = split_params(spec.size() > 6 ? spec.substr(6) : "", spec);
  double rate = -1, alpha = 1.5, burst = 8, spread = 1;
  for (const auto& [k, v] : kv) {
    if (k == "rate")
      rate = number(v, "heavy: rate");
    else if (k == "alpha")
      alpha = number(v, "heavy: alpha");
    else if (k == "burst")
      burst = number(v, "heavy: burst");
    else if (k == "spread")
      spread = loadgen::parse_duration(v, "heavy: spread");
    else
      fail("'{}': unknown key '{}' (heavy takes rate, alpha, burst, spread)", spec, k);
  }
  if (rate < 0) fail("'{}': heavy needs rate=R", spec);
  return std::make_unique<HeavyTailArrival>(rate, alpha, burst, spread);
}

std::vector<MixPhase> parse_task_mix(std::string_view spec,
                                     const std::vector<std::string>& domains) {
  std::vector<MixPhase> phases;
  size_t pos = 0;
  while (pos <= spec.size()) {
    const size_t end = std::min(spec.find('|', pos), spec.size());
    std::string_view item = spec.substr(pos, end - pos);
    MixPhase ph;
    const size_t at = item.find('@');
    if (at != std::string_view::npos) {
      ph.start_s = loadgen::parse_duration(item.substr(at + 1), "task mix phase start");
      item = item.substr(0, at);
    } else if (!phases.empty()) {
      fail("task mix '{}': every phase after the first needs @T (its start)", spec);
    }
    ph.weights.assign(domains.size(), 0.0);
    if (item == "uniform" || item.empty()) {
      std::fill(ph.weights.begin(), ph.weights.end(), 1.0);
    } else {
      for (const auto& [k, v] : split_params(item, spec)) {
        const auto it = std::find(domains.begin(), domains.end(), k);
        if (it == domains.end())
          fail("task mix '{}': unknown domain '{}' (domains: {})", spec, k,
               fmt::join(domains, ", "));
        const double w = number(v, "task mix weight");
        if (w < 0) fail("task mix '{}': weights must be >= 0", spec);
        ph.weights[it - domains.begin()] = w;
      }
    }
    double sum = 0;
    for (double w : ph.weights) sum += w;
    if (!(sum > 0)) fail("task mix '{}': a phase has no weight", spec);
    for (double& w : ph.weights) w /= sum;
    if (!phases.empty() && ph.start_s <= phases.back().start_s)
      fail("task mix '{}': phase starts must ascend", spec);
    phases.push_back(std::move(ph));
    pos = end + 1;
  }
  return phases;
}

std::vector<SimRequest> make_workload(const WorkloadSpec& spec,
                                      const std::vector<std::string>& domains) {
  std::vector<double> times;
  std::vector<int> fixed_domain;
  std::vector<int64_t> trace_max_tokens, trace_deadline_ms, trace_prompt_tokens;
  if (spec.arrival.rfind("trace:", 0) == 0) {
    const std::string path = spec.arrival.substr(6);
    std::ifstream f(path);
    if (!f) fail("{}: cannot open the trace", path);
    std::string line;
    int lineno = 0;
    struct Row {
      double t;
      int domain;
      int64_t max_tokens, deadline_ms, prompt_tokens;  // -1: from the spec
    };
    std::vector<Row> rows;
    while (std::getline(f, line)) {
      ++lineno;
      if (line.empty() || line[0] == '#') continue;
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const std::exception& e) {
        fail("{}:{}: not JSON: {}", path, lineno, e.what());
      }
      if (!j.contains("t")) fail("{}:{}: no \"t\"", path, lineno);
      const double t = j["t"].get<double>();
      if (t >= spec.duration_s) continue;
      std::string d = j.value("domain", j.value("task", ""));
      const auto it = std::find(domains.begin(), domains.end(), d);
      rows.push_back({t, it == domains.end() ? -1 : static_cast<int>(it - domains.begin()),
                      j.value("max_tokens", int64_t{-1}), j.value("deadline_ms", int64_t{-1}),
                      j.value("prompt_tokens", int64_t{-1})});
    }
    std::stable_sort(rows.begin(), rows.end(),
                     [](const Row& a, const Row& b) { return a.t < b.t; });
    for (const Row& r : rows) {
      times.push_back(r.t);
      fixed_domain.push_back(r.domain);
      trace_max_tokens.push_back(r.max_tokens);
      trace_deadline_ms.push_back(r.deadline_ms);
      trace_prompt_tokens.push_back(r.prompt_tokens);
    }
  } else {
    loadgen::Rng rng(spec.seed, 0);
    times = parse_sim_arrival(spec.arrival)->generate(spec.duration_s, rng);
  }
  const std::vector<MixPhase> mix = parse_task_mix(spec.mix, domains);
  loadgen::Rng rng(spec.seed, 1);
  std::vector<SimRequest> out;
  out.reserve(times.size());
  for (size_t i = 0; i < times.size(); ++i) {
    SimRequest r;
    r.id = static_cast<int64_t>(i);
    r.t = times[i];
    const MixPhase* ph = &mix.front();
    for (const MixPhase& p : mix)
      if (p.start_s <= r.t) ph = &p;
    double u = rng.uniform();
    r.domain = static_cast<int>(domains.size()) - 1;
    for (size_t d = 0; d < ph->weights.size(); ++d) {
      if (u < ph->weights[d]) {
        r.domain = static_cast<int>(d);
        break;
      }
      u -= ph->weights[d];
    }
    if (!fixed_domain.empty() && fixed_domain[i] >= 0) r.domain = fixed_domain[i];
    r.prompt_tokens = spec.prompt_tokens.draw(rng);
    r.max_tokens = spec.max_tokens.draw(rng);
    r.deadline_s = static_cast<double>(spec.deadline_ms.draw(rng)) / 1000.0;
    if (!trace_max_tokens.empty() && trace_max_tokens[i] > 0) r.max_tokens = trace_max_tokens[i];
    if (!trace_prompt_tokens.empty() && trace_prompt_tokens[i] > 0)
      r.prompt_tokens = trace_prompt_tokens[i];
    if (!trace_deadline_ms.empty() && trace_deadline_ms[i] >= 0)
      r.deadline_s = static_cast<double>(trace_deadline_ms[i]) / 1000.0;
    out.push_back(r);
  }
  return out;
}

}  // namespace tandem::sim
