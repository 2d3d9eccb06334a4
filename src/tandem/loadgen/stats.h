// Descriptive statistics for load runs: percentiles and five-number-style
// summaries of latency samples.
//
// percentile() uses linear interpolation between order statistics (the
// "linear" / type-7 method, numpy's default): for sorted x[0..n-1] and p in
// [0, 100], rank = p/100 * (n-1), result = x[floor(rank)] + frac(rank) *
// (x[floor(rank)+1] - x[floor(rank)]). Empty input gives NaN.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <vector>

namespace tandem::loadgen {

double percentile(std::vector<double> values, double p);
// Same, on values already sorted ascending (no copy).
double percentile_sorted(const std::vector<double>& sorted, double p);

struct Summary {
  size_t count = 0;
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;  // NaN when count == 0
};

Summary summarize(std::vector<double> values);

}  // namespace tandem::loadgen
