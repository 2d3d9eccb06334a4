// Load-run reports: the JSON document `tandem loadgen --json` writes and the
// table it prints, both built from a RunResult.
//
// JSON schema (version 1; times in seconds unless the key says _ms; a
// statistic with no samples is null):
// {
//   "schema": "tandem.loadgen/1",
//   "command_line": "...", "config": {...}            (added by the caller)
//   "run": {"scheduled", "sent", "elapsed_s", "interrupted", "peak_inflight",
//           "max_dispatch_lag_ms"},
//   "summary": {
//     "outcomes": {"ok": n, "queue_full_429": n, ... every kind, zeros included},
//     "errors": n (sent - ok),
//     "request_rate_rps": sent / elapsed,  "throughput_rps": ok / elapsed,
//     "output_tokens": n (ok requests; usage.completion_tokens, else chunks),
//     "output_tokens_per_s",
//     "ttft_ms", "tpot_ms", "latency_ms": {"count","mean","p50","p90","p99","max"},
//         over ok requests (ttft: streamed ones; tpot: those with >= 2 tokens),
//     "goodput": {"good": n, "attainment": good / counted, "goodput_rps": good / elapsed,
//                 "with_deadline": n, "deadline_met": n},
//     "tiers": {"<tier>": n, ...}  (ok requests, by the response's "tier"; "?" if none)
//   },
//   "windows": [ {"t0", "t1", "arrivals", "arrival_rps", "completed", "ok", "throughput_rps",
//                 "goodput_rps", "output_tokens_per_s",
//                 "latency_ms": {"p50","p90","p99"}, "ttft_ms": {"p50","p90","p99"},
//                 "outcomes": {kind: n, non-zero only}, "tiers": {tier: n}} ... ],
//   "requests": [ {"index","t_sched","t_sent","t_end","outcome","status","ttft_ms",
//                  "tpot_ms","latency_ms","output_tokens","chunks","tier","task",
//                  "max_tokens","deadline_ms","error"} ... ]   (only with include_requests)
// }
// Definitions: a request is *good* when it ended ok and, if it had a
// deadline, its end-to-end latency (from its scheduled arrival) was within
// deadline_ms. "counted" = sent requests minus cancelled ones. elapsed is the
// longer of the planned duration and the time of the last outcome (the time
// of the last outcome alone when the run was interrupted). Arrivals fall into
// windows by scheduled time; outcomes and latencies by their end time; output
// tokens by the time each chunk arrived (at the end for non-streamed ones).
//
// Thread safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tandem/loadgen/runner.h"

namespace tandem::loadgen {

struct ReportOptions {
  double window_s = 1;
  double duration_s = 0;  // planned duration (0 = unknown)
  bool include_requests = false;
};

nlohmann::json build_report(const std::vector<RequestSpec>& workload, const RunResult& run,
                            const ReportOptions& opt);

// A human-readable table of a report's run and summary.
std::string format_report(const nlohmann::json& report);

// A file of the source tree (e.g. "bench/loadgen_plot.py", "bench/prompts"):
// under $TANDEM_SOURCE_DIR if set and it exists there, else relative to the
// current directory if it exists, else in the tree this binary was built from.
std::string source_file(const std::string& rel);

}  // namespace tandem::loadgen
