// Metrics — the server's counters, gauges and histograms, rendered in the
// Prometheus text exposition format (version 0.0.4) for GET /metrics.
//
// Contract: a fixed set of families is declared once (counter / gauge /
// histogram, name, help, label names); series are created on first use of a
// label-value tuple and never removed, so the output is stable between
// scrapes. Values are plain doubles. render() writes every family with its
// # HELP and # TYPE lines; histogram buckets are cumulative with le="+Inf",
// _sum and _count. Label values are escaped (\\, \", \n).
// Cost: one mutex around every update and around render(); an update is a
// hash lookup plus an add, a render is proportional to the number of series
// (tens), so scraping 20 times a second under load is cheap.
// Thread safety: every method may be called from any thread.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace tandem::serve {

class Metrics {
 public:
  enum class Kind { kCounter, kGauge, kHistogram };

  // Declares a family; `buckets` (ascending upper bounds) only for histograms.
  void declare(const std::string& name, Kind kind, const std::string& help,
               std::vector<std::string> labels = {}, std::vector<double> buckets = {});

  // Label values are given in the order of the family's label names.
  void add(const std::string& name, double v, const std::vector<std::string>& label_values = {});
  void set(const std::string& name, double v, const std::vector<std::string>& label_values = {});
  void observe(const std::string& name, double v,
               const std::vector<std::string>& label_values = {});

  // Current value of a counter or gauge series (0 if it does not exist); for tests and the
  // dashboard.
  double value(const std::string& name, const std::vector<std::string>& label_values = {}) const;

  std::string render() const;

 private:
  struct Series {
    double value = 0;            // counter, gauge
    std::vector<double> counts;  // histogram: per bucket (not cumulative)
    double sum = 0;
    double count = 0;
  };
  struct Family {
    Kind kind;
    std::string help;
    std::vector<std::string> labels;
    std::vector<double> buckets;
    std::map<std::vector<std::string>, Series> series;
  };
  Series& series(const std::string& name, const std::vector<std::string>& label_values,
                 Kind expected);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;  // ordered: stable output
};

}  // namespace tandem::serve
