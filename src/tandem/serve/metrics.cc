#include "tandem/serve/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "tandem/base/error.h"

namespace tandem::serve {
namespace {

std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  return fmt::format("{}", v);
}

std::string label_set(const std::vector<std::string>& names, const std::vector<std::string>& values,
                      const std::string& extra_name = "", const std::string& extra_value = "") {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i)
    out += fmt::format("{}{}=\"{}\"", out.empty() ? "" : ",", names[i], escape(values[i]));
  if (!extra_name.empty())
    out += fmt::format("{}{}=\"{}\"", out.empty() ? "" : ",", extra_name, escape(extra_value));
  return out.empty() ? "" : "{" + out + "}";
}

const char* kind_name(Metrics::Kind k) {
  switch (k) {
    case Metrics::Kind::kCounter:
      return "counter";
    case Metrics::Kind::kGauge:
      return "gauge";
    case Metrics::Kind::kHistogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

void Metrics::declare(const std::string& name, Kind kind, const std::string& help,
                      std::vector<std::string> labels, std::vector<double> buckets) {
  std::lock_guard<std::mutex> lock(mu_);
  TANDEM_CHECK(!families_.count(name), "metric {} declared twice", name);
  TANDEM_CHECK(std::is_sorted(buckets.begin(), buckets.end()), "metric {}: unsorted buckets", name);
  families_[name] = Family{kind, help, std::move(labels), std::move(buckets), {}};
}

Metrics::Series& Metrics::series(const std::string& name,
                                 const std::vector<std::string>& label_values, Kind expected) {
  auto it = families_.find(name);
  TANDEM_CHECK(it != families_.end(), "metric {} is not declared", name);
  Family& f = it->second;
  TANDEM_CHECK(f.kind == expected, "metric {} used as the wrong kind", name);
  TANDEM_CHECK(label_values.size() == f.labels.size(), "metric {}: {} label values for {} labels",
               name, label_values.size(), f.labels.size());
  Series& s = f.series[label_values];
  if (f.kind == Kind::kHistogram && s.counts.empty()) s.counts.assign(f.buckets.size(), 0);
  return s;
}

void Metrics::add(const std::string& name, double v, const std::vector<std::string>& lv) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = families_.find(name);
  const Kind k = it != families_.end() ? it->second.kind : Kind::kCounter;
  series(name, lv, k == Kind::kGauge ? Kind::kGauge : Kind::kCounter).value += v;
}

void Metrics::set(const std::string& name, double v, const std::vector<std::string>& lv) {
  std::lock_guard<std::mutex> lock(mu_);
  series(name, lv, Kind::kGauge).value = v;
}

void Metrics::observe(const std::string& name, double v, const std::vector<std::string>& lv) {
  std::lock_guard<std::mutex> lock(mu_);
  Series& s = series(name, lv, Kind::kHistogram);
  const std::vector<double>& b = families_.find(name)->second.buckets;
  const size_t i = std::lower_bound(b.begin(), b.end(), v) - b.begin();  // first bound >= v
  if (i < s.counts.size()) s.counts[i] += 1;
  s.sum += v;
  s.count += 1;
}

double Metrics::value(const std::string& name, const std::vector<std::string>& lv) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return 0;
  auto s = it->second.series.find(lv);
  if (s == it->second.series.end()) return 0;
  return it->second.kind == Kind::kHistogram ? s->second.count : s->second.value;
}

std::string Metrics::render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  out.reserve(8192);
  for (const auto& [name, f] : families_) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, f.help, name, kind_name(f.kind));
    for (const auto& [lv, s] : f.series) {
      if (f.kind != Kind::kHistogram) {
        out += fmt::format("{}{} {}\n", name, label_set(f.labels, lv), number(s.value));
        continue;
      }
      double cumulative = 0;
      for (size_t i = 0; i < f.buckets.size(); ++i) {
        cumulative += s.counts[i];
        out += fmt::format("{}_bucket{} {}\n", name,
                           label_set(f.labels, lv, "le", number(f.buckets[i])), number(cumulative));
      }
      out += fmt::format("{}_bucket{} {}\n", name, label_set(f.labels, lv, "le", "+Inf"),
                         number(s.count));
      out += fmt::format("{}_sum{} {}\n", name, label_set(f.labels, lv), number(s.sum));
      out += fmt::format("{}_count{} {}\n", name, label_set(f.labels, lv), number(s.count));
    }
  }
  return out;
}

}  // namespace tandem::serve
