#include "tandem/loadgen/runner.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>

namespace tandem::loadgen {

namespace {

using Clock = Client::Clock;

struct Shared {
  std::mutex mu;
  std::condition_variable work_cv;  // workers wait for tasks
  std::condition_variable done_cv;  // the dispatcher waits for outcomes
  std::deque<const RequestSpec*> queue;
  int inflight = 0;  // queued + being sent
  int idle = 0;      // workers waiting on work_cv
  bool shutdown = false;
  std::vector<RequestResult> results;
  std::array<int64_t, static_cast<size_t>(Outcome::kCount)> by_outcome{};
  int64_t output_tokens = 0;
};

double since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

RunResult run_load(const std::vector<RequestSpec>& workload, Client& client, const RunOptions& opt,
                   const std::atomic<bool>* stop) {
  Shared sh;
  RunResult out;
  out.scheduled = workload.size();
  sh.results.reserve(workload.size());
  std::vector<std::thread> workers;
  const int max_inflight = std::max(1, opt.max_inflight);
  const auto start = Clock::now();
  const bool tty = isatty(STDERR_FILENO) != 0;
  double next_progress = opt.progress_interval_s;
  const double planned = opt.duration_s > 0 ? opt.duration_s
                         : workload.empty() ? 0.0
                                            : workload.back().t;
  size_t dispatched = 0;

  auto stopping = [&] { return stop && stop->load(); };
  auto record = [&](RequestResult r) {  // call with sh.mu held
    sh.by_outcome[static_cast<size_t>(r.outcome)]++;
    if (r.outcome == Outcome::kOk) sh.output_tokens += r.output_tokens();
    sh.results.push_back(std::move(r));
  };
  auto progress = [&](bool final) {
    if (opt.progress_interval_s <= 0) return;
    const double t = since(start);
    if (!final && t < next_progress) return;
    next_progress = t + opt.progress_interval_s;
    std::string line;
    {
      std::lock_guard lock(sh.mu);
      const int64_t ok = sh.by_outcome[0];
      const int64_t done = static_cast<int64_t>(sh.results.size());
      std::string errs;
      for (size_t k = 1; k < sh.by_outcome.size(); ++k)
        if (sh.by_outcome[k])
          errs += fmt::format(" {}={}", outcome_name(static_cast<Outcome>(k)), sh.by_outcome[k]);
      line = fmt::format(
          "loadgen {:.1f}/{:.1f}s sent {}/{} inflight {} ok {} err {}{} | {:.1f} "
          "out tok/s",
          t, planned, dispatched, workload.size(), sh.inflight, ok, done - ok, errs,
          t > 0 ? static_cast<double>(sh.output_tokens) / t : 0.0);
    }
    if (tty)
      fmt::print(stderr, "\r\033[K{}{}", line, final ? "\n" : "");
    else
      fmt::print(stderr, "{}\n", line);
    std::fflush(stderr);
  };

  auto worker = [&] {
    std::unique_lock lock(sh.mu);
    for (;;) {
      while (!sh.shutdown && sh.queue.empty()) {
        ++sh.idle;
        sh.work_cv.wait(lock);
        --sh.idle;
      }
      if (sh.queue.empty()) return;  // shutdown
      const RequestSpec* spec = sh.queue.front();
      sh.queue.pop_front();
      lock.unlock();
      RequestResult r = client.send(*spec, start);
      lock.lock();
      record(std::move(r));
      --sh.inflight;
      sh.done_cv.notify_all();
    }
  };

  bool cancelled = false;
  for (const RequestSpec& spec : workload) {
    const auto due =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(spec.t));
    while (!stopping()) {
      const auto now = Clock::now();
      if (now >= due) break;
      std::this_thread::sleep_for(
          std::min<Clock::duration>(due - now, std::chrono::milliseconds(50)));
      progress(false);
    }
    if (stopping()) break;
    {
      std::lock_guard lock(sh.mu);
      const double lag = since(start) - spec.t;
      out.max_dispatch_lag_s = std::max(out.max_dispatch_lag_s, lag);
      if (sh.inflight >= max_inflight) {
        RequestResult r;
        r.index = spec.index;
        r.outcome = Outcome::kOverflow;
        r.t_sched = spec.t;
        r.t_sent = r.t_end = since(start);
        r.error_message = fmt::format("{} requests already in flight", sh.inflight);
        record(std::move(r));
      } else {
        ++sh.inflight;
        out.peak_inflight = std::max(out.peak_inflight, sh.inflight);
        sh.queue.push_back(&spec);
        if (sh.idle < static_cast<int>(sh.queue.size()) &&
            static_cast<int>(workers.size()) < max_inflight)
          workers.emplace_back(worker);
        sh.work_cv.notify_one();
      }
      ++dispatched;
    }
    progress(false);
  }

  // Wait for the requests still open; a stop request cancels them.
  for (;;) {
    if (stopping() && !cancelled) {
      cancelled = true;
      client.cancel_all();
    }
    {
      std::unique_lock lock(sh.mu);
      if (sh.inflight == 0) break;
      sh.done_cv.wait_for(lock, std::chrono::milliseconds(50));
      if (sh.inflight == 0) break;
    }
    progress(false);
  }
  {
    std::lock_guard lock(sh.mu);
    sh.shutdown = true;
  }
  sh.work_cv.notify_all();
  for (auto& w : workers) w.join();
  progress(true);

  out.interrupted = stopping() || dispatched < workload.size();
  out.results = std::move(sh.results);
  std::sort(out.results.begin(), out.results.end(),
            [](const RequestResult& a, const RequestResult& b) { return a.index < b.index; });
  out.elapsed_s = 0;
  for (const auto& r : out.results) out.elapsed_s = std::max(out.elapsed_s, r.t_end);
  if (out.results.empty()) out.elapsed_s = since(start);
  return out;
}

}  // namespace tandem::loadgen
