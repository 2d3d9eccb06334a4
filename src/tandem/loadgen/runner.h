// run_load — plays a workload against a server, open loop.
//
// One dispatcher thread sleeps until each request's scheduled time and hands
// it to a worker, whatever happened to earlier requests. Workers (grown on
// demand, at most max_inflight threads) each run one Client::send at a time.
// When max_inflight requests are already open the new one is *not* delayed:
// it is recorded at once as Outcome::kOverflow, so a slow server can never
// quietly turn the open loop into a closed one.
//
// Stopping: when *stop becomes true (e.g. set by a SIGINT handler) the
// dispatcher stops scheduling, cancels in-flight requests (they end as
// kCancelled) and returns what it has; RunResult.interrupted says so.
//
// Progress: with progress_interval_s > 0, a status line on stderr that often
// (redrawn in place on a terminal).
//
// Thread safety: run_load is a blocking call; `client` and `stop` must outlive it.
#pragma once

#include <atomic>
#include <vector>

#include "tandem/loadgen/client.h"
#include "tandem/loadgen/workload.h"

namespace tandem::loadgen {

struct RunOptions {
  int max_inflight = 256;
  double progress_interval_s = 0;  // 0 = silent
  double duration_s = 0;           // planned duration, shown in progress (0: last arrival)
};

struct RunResult {
  std::vector<RequestResult> results;  // one per dispatched request, sorted by index
  size_t scheduled = 0;                // requests in the workload
  double elapsed_s = 0;                // start to last outcome
  double max_dispatch_lag_s = 0;       // worst (t_sent - t_sched)
  int peak_inflight = 0;
  bool interrupted = false;
};

RunResult run_load(const std::vector<RequestSpec>& workload, Client& client, const RunOptions& opt,
                   const std::atomic<bool>* stop = nullptr);

}  // namespace tandem::loadgen
