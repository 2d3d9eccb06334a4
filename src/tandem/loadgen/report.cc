#include "tandem/loadgen/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "tandem/loadgen/stats.h"

namespace tandem::loadgen {

namespace {

using json = nlohmann::json;

json num(double v) {
  return std::isfinite(v) ? json(v) : json(nullptr);
}

json summary_json(std::vector<double> v_ms) {
  const Summary s = summarize(std::move(v_ms));
  return {{"count", s.count},  {"mean", num(s.mean)}, {"p50", num(s.p50)},
          {"p90", num(s.p90)}, {"p99", num(s.p99)},   {"max", num(s.max)}};
}

json pct_json(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {{"p50", num(percentile_sorted(v, 50))},
          {"p90", num(percentile_sorted(v, 90))},
          {"p99", num(percentile_sorted(v, 99))}};
}

bool is_good(const RequestResult& r, const RequestSpec* spec) {
  if (r.outcome != Outcome::kOk) return false;
  const int64_t deadline = spec ? spec->deadline_ms : 0;
  return deadline <= 0 || r.latency_s() * 1000 <= static_cast<double>(deadline);
}

std::string tier_of(const RequestResult& r) {
  return r.tier.empty() ? "?" : r.tier;
}

struct Window {
  int64_t arrivals = 0, completed = 0, ok = 0, good = 0;
  double tokens = 0;
  std::vector<double> latency_ms, ttft_ms;
  std::map<std::string, int64_t> outcomes, tiers;
};

}  // namespace

json build_report(const std::vector<RequestSpec>& workload, const RunResult& run,
                  const ReportOptions& opt) {
  auto spec_of = [&](const RequestResult& r) -> const RequestSpec* {
    return r.index >= 0 && static_cast<size_t>(r.index) < workload.size() ? &workload[r.index]
                                                                          : nullptr;
  };
  const double elapsed = run.interrupted ? run.elapsed_s : std::max(run.elapsed_s, opt.duration_s);
  const double denom = elapsed > 0 ? elapsed : 1;

  std::array<int64_t, static_cast<size_t>(Outcome::kCount)> counts{};
  std::vector<double> ttft, tpot, latency;
  int64_t tokens = 0, good = 0, counted = 0, with_deadline = 0, deadline_met = 0;
  std::map<std::string, int64_t> tiers;
  for (const auto& r : run.results) {
    counts[static_cast<size_t>(r.outcome)]++;
    const RequestSpec* spec = spec_of(r);
    if (r.outcome != Outcome::kCancelled) ++counted;
    const bool g = is_good(r, spec);
    good += g;
    if (spec && spec->deadline_ms > 0) {
      ++with_deadline;
      deadline_met += g;
    }
    if (r.outcome != Outcome::kOk) continue;
    tokens += r.output_tokens();
    latency.push_back(r.latency_s() * 1000);
    if (r.ttft_s >= 0) ttft.push_back(r.ttft_s * 1000);
    if (r.tpot_s() >= 0) tpot.push_back(r.tpot_s() * 1000);
    tiers[tier_of(r)]++;
  }
  const int64_t sent = static_cast<int64_t>(run.results.size());

  json outcomes = json::object();
  for (size_t k = 0; k < counts.size(); ++k)
    outcomes[outcome_name(static_cast<Outcome>(k))] = counts[k];

  json rep;
  rep["schema"] = "tandem.loadgen/1";
  rep["run"] = {{"scheduled", run.scheduled},
                {"sent", sent},
                {"elapsed_s", elapsed},
                {"interrupted", run.interrupted},
                {"peak_inflight", run.peak_inflight},
                {"max_dispatch_lag_ms", run.max_dispatch_lag_s * 1000}};
  rep["summary"] = {
      {"outcomes", outcomes},
      {"errors", sent - counts[0]},
      {"request_rate_rps", sent / denom},
      {"throughput_rps", counts[0] / denom},
      {"output_tokens", tokens},
      {"output_tokens_per_s", tokens / denom},
      {"ttft_ms", summary_json(ttft)},
      {"tpot_ms", summary_json(tpot)},
      {"latency_ms", summary_json(latency)},
      {"goodput",
       {{"good", good},
        {"attainment", counted ? num(static_cast<double>(good) / counted) : json(nullptr)},
        {"goodput_rps", good / denom},
        {"with_deadline", with_deadline},
        {"deadline_met", deadline_met}}},
      {"tiers", tiers}};

  // Per-window series.
  const double w = opt.window_s > 0 ? opt.window_s : 1;
  const size_t nwin = std::max<size_t>(1, static_cast<size_t>(std::ceil(elapsed / w - 1e-9)));
  std::vector<Window> win(nwin);
  auto slot = [&](double t) {
    return std::min(nwin - 1, static_cast<size_t>(std::max(0.0, std::floor(t / w))));
  };
  for (const auto& r : run.results) {
    win[slot(r.t_sched)].arrivals++;
    Window& e = win[slot(r.t_end)];
    e.completed++;
    e.outcomes[outcome_name(r.outcome)]++;
    if (r.outcome != Outcome::kOk) continue;
    e.ok++;
    e.good += is_good(r, spec_of(r));
    e.latency_ms.push_back(r.latency_s() * 1000);
    if (r.ttft_s >= 0) e.ttft_ms.push_back(r.ttft_s * 1000);
    e.tiers[tier_of(r)]++;
    if (r.token_times.empty()) {
      e.tokens += static_cast<double>(r.output_tokens());
    } else {
      const double per_chunk =
          static_cast<double>(r.output_tokens()) / static_cast<double>(r.token_times.size());
      for (double t : r.token_times) win[slot(r.t_sched + t)].tokens += per_chunk;
    }
  }
  json windows = json::array();
  for (size_t i = 0; i < nwin; ++i) {
    Window& x = win[i];
    const double t0 = i * w, t1 = std::min((i + 1) * w, std::max(elapsed, t0 + 1e-9));
    const double span = t1 - t0 > 0 ? t1 - t0 : w;
    windows.push_back({{"t0", t0},
                       {"t1", t1},
                       {"arrivals", x.arrivals},
                       {"arrival_rps", x.arrivals / span},
                       {"completed", x.completed},
                       {"ok", x.ok},
                       {"throughput_rps", x.ok / span},
                       {"goodput_rps", x.good / span},
                       {"output_tokens_per_s", x.tokens / span},
                       {"latency_ms", pct_json(std::move(x.latency_ms))},
                       {"ttft_ms", pct_json(std::move(x.ttft_ms))},
                       {"outcomes", x.outcomes},
                       {"tiers", x.tiers}});
  }
  rep["windows"] = std::move(windows);

  if (opt.include_requests) {
    json reqs = json::array();
    for (const auto& r : run.results) {
      const RequestSpec* spec = spec_of(r);
      json j = {{"index", r.index},
                {"t_sched", r.t_sched},
                {"t_sent", r.t_sent},
                {"t_end", r.t_end},
                {"outcome", outcome_name(r.outcome)},
                {"status", r.http_status},
                {"ttft_ms", r.ttft_s >= 0 ? json(r.ttft_s * 1000) : json(nullptr)},
                {"tpot_ms", r.tpot_s() >= 0 ? json(r.tpot_s() * 1000) : json(nullptr)},
                {"latency_ms", r.latency_s() * 1000},
                {"output_tokens", r.output_tokens()},
                {"chunks", r.chunks},
                {"tier", r.tier}};
      if (spec) {
        j["task"] = spec->task;
        j["max_tokens"] = spec->max_tokens;
        j["deadline_ms"] = spec->deadline_ms;
      }
      if (!r.error_code.empty() || !r.error_message.empty())
        j["error"] = r.error_code.empty() ? r.error_message : r.error_code + ": " + r.error_message;
      reqs.push_back(std::move(j));
    }
    rep["requests"] = std::move(reqs);
  }
  return rep;
}

std::string format_report(const json& rep) {
  auto f = [](const json& v, const char* spec = "{:.1f}") -> std::string {
    if (!v.is_number()) return "-";
    return fmt::format(fmt::runtime(spec), v.get<double>());
  };
  const json& run = rep.at("run");
  const json& s = rep.at("summary");
  std::string out;
  if (rep.contains("config")) {
    const json& c = rep["config"];
    out += fmt::format("tandem loadgen: {} against {}\n", c.value("workload", std::string("?")),
                       c.value("url", std::string("?")));
  }
  out += fmt::format(
      "requests    {} sent of {} scheduled in {:.1f} s{}; peak {} in flight\n",
      run["sent"].get<int64_t>(), run["scheduled"].get<int64_t>(), run["elapsed_s"].get<double>(),
      run["interrupted"].get<bool>() ? " (INTERRUPTED)" : "", run["peak_inflight"].get<int>());
  out += fmt::format("throughput  {} req/s sent, {} req/s ok, {} output tok/s ({} tokens)\n",
                     f(s["request_rate_rps"], "{:.2f}"), f(s["throughput_rps"], "{:.2f}"),
                     f(s["output_tokens_per_s"]), s["output_tokens"].get<int64_t>());
  const json& g = s["goodput"];
  out += fmt::format(
      "goodput     {} req/s; {} of requests ok within deadline ({}/{} with a "
      "deadline met)\n",
      f(g["goodput_rps"], "{:.2f}"),
      g["attainment"].is_number() ? fmt::format("{:.1f}%", 100 * g["attainment"].get<double>())
                                  : std::string("-"),
      g["deadline_met"].get<int64_t>(), g["with_deadline"].get<int64_t>());
  out += fmt::format("{:<12}{:>8}{:>10}{:>10}{:>10}{:>10}{:>10}\n", "(ms)", "count", "mean", "p50",
                     "p90", "p99", "max");
  for (const char* key : {"ttft_ms", "tpot_ms", "latency_ms"}) {
    const json& x = s[key];
    out += fmt::format("{:<12}{:>8}{:>10}{:>10}{:>10}{:>10}{:>10}\n",
                       std::string(key).substr(0, std::string(key).size() - 3),
                       x["count"].get<int64_t>(), f(x["mean"]), f(x["p50"]), f(x["p90"]),
                       f(x["p99"]), f(x["max"]));
  }
  std::string outcomes;
  for (const auto& [k, v] : s["outcomes"].items())
    if (v.get<int64_t>() > 0 || k == "ok")
      outcomes += fmt::format("{}{} {}", outcomes.empty() ? "" : " | ", k, v.get<int64_t>());
  out += fmt::format("outcomes    {}\n", outcomes);
  std::string tiers;
  const double ok = std::max<double>(1, static_cast<double>(s["outcomes"]["ok"].get<int64_t>()));
  for (const auto& [k, v] : s["tiers"].items())
    tiers += fmt::format("{}{} {} ({:.0f}%)", tiers.empty() ? "" : " | ", k, v.get<int64_t>(),
                         100 * v.get<int64_t>() / ok);
  out += fmt::format("tiers       {}\n", tiers.empty() ? "-" : tiers);
  return out;
}

std::string source_file(const std::string& rel) {
  namespace fs = std::filesystem;
  if (const char* dir = std::getenv("TANDEM_SOURCE_DIR"))
    if (fs::exists(fs::path(dir) / rel)) return (fs::path(dir) / rel).string();
  if (fs::exists(rel)) return rel;
  return (fs::path(TANDEM_LOADGEN_SOURCE_DIR) / rel).string();
}

}  // namespace tandem::loadgen
