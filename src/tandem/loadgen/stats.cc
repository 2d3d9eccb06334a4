#include "tandem/loadgen/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "tandem/base/error.h"

namespace tandem::loadgen {

double percentile_sorted(const std::vector<double>& x, double p) {
  TANDEM_CHECK(p >= 0 && p <= 100, "percentile {} outside [0, 100]", p);
  if (x.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double rank = p / 100 * static_cast<double>(x.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(lo + 1, x.size() - 1);
  return x[lo] + (rank - static_cast<double>(lo)) * (x[hi] - x[lo]);
}

double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  return percentile_sorted(values, p);
}

Summary summarize(std::vector<double> v) {
  Summary s;
  s.count = v.size();
  if (v.empty()) {
    s.mean = s.p50 = s.p90 = s.p99 = s.max = std::numeric_limits<double>::quiet_NaN();
    return s;
  }
  std::sort(v.begin(), v.end());
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  s.p50 = percentile_sorted(v, 50);
  s.p90 = percentile_sorted(v, 90);
  s.p99 = percentile_sorted(v, 99);
  s.max = v.back();
  return s;
}

}  // namespace tandem::loadgen
