// Workloads: the list of requests a load run sends — when each arrives and
// what it asks for (prompt, task/domain, max_tokens, deadline, tier, seed).
//
// Two sources:
//  * build_workload(): arrival times from an ArrivalProcess, prompts drawn from
//    a PromptSet (bench/prompts/<domain>.jsonl; the domain becomes the request's
//    "task"), parameters drawn from IntRanges. Deterministic in the seed.
//  * load_trace(): a JSONL file, one request per line:
//      {"t": 1.25, "prompt": "...", "max_tokens": 64, "deadline_ms": 2000,
//       "tier": "fast", "task": "pydoc", "seed": 7}
//    "t" (seconds from the start) is required; either "prompt" or "domain"
//    (a prompt is then drawn from that domain of the PromptSet, and task
//    defaults to the domain); the rest fall back to the WorkloadOptions.
//    Lines are sorted by t; blank lines and lines starting with '#' are skipped.
// write_trace() writes a workload in the same format, so a generated schedule
// can be saved, edited and replayed (or fed to the simulator).
//
// Thread safety: plain values; PromptSet is immutable after loading.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/loadgen/arrival.h"

namespace tandem::loadgen {

// An integer parameter that is fixed ("64") or drawn uniformly per request
// from an inclusive range ("16-128").
struct IntRange {
  int64_t lo = 0, hi = 0;
  static IntRange parse(std::string_view text, std::string_view what);
  int64_t draw(Rng& rng) const;
  std::string str() const;
};

struct RequestSpec {
  int64_t index = 0;  // position in the workload, 0-based
  double t = 0;       // scheduled arrival, seconds from the start
  std::string prompt;
  std::string task;  // domain label sent as "task"; "" = none
  int64_t max_tokens = 64;
  int64_t deadline_ms = 0;  // 0 = no deadline
  std::string tier;         // "" = the server's policy picks
  uint64_t seed = 0;        // sampling seed sent with the request
};

class PromptSet {
 public:
  // Loads DIR/<domain>.jsonl for each domain (all *.jsonl in DIR, sorted by
  // name, when `domains` is empty). Each line is a JSON object with "prompt".
  static PromptSet load(const std::string& dir, const std::vector<std::string>& domains = {});
  void add(const std::string& domain, std::string prompt);
  const std::vector<std::string>& domains() const { return order_; }
  const std::vector<std::string>& prompts(const std::string& domain) const;
  bool empty() const { return order_.empty(); }

 private:
  std::map<std::string, std::vector<std::string>> by_domain_;
  std::vector<std::string> order_;
};

struct WorkloadOptions {
  IntRange max_tokens{64, 64};
  IntRange deadline_ms{0, 0};
  std::string tier;
  uint64_t seed = 1;
};

// One request per arrival time: domain uniformly at random, then a prompt
// uniformly from that domain, then max_tokens, deadline and seed.
std::vector<RequestSpec> build_workload(const std::vector<double>& times, const PromptSet& prompts,
                                        const WorkloadOptions& opt);

// Convenience: arrivals from `process` over `duration` seconds, then build_workload.
// The arrival times and the per-request draws use separate streams of `opt.seed`.
std::vector<RequestSpec> generate_workload(const ArrivalProcess& process, double duration,
                                           const PromptSet& prompts, const WorkloadOptions& opt);

// Reads a trace (format above). `prompts` may be empty if every line has a
// prompt. Requests with t >= max_t are dropped (pass infinity to keep all).
std::vector<RequestSpec> load_trace(const std::string& path, const PromptSet& prompts,
                                    const WorkloadOptions& opt, double max_t);

void write_trace(const std::string& path, const std::vector<RequestSpec>& requests);

}  // namespace tandem::loadgen
