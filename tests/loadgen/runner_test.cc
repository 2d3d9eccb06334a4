// Open-loop runs against the mock server: every outcome is counted in the
// report, the schedule is kept whatever the server does, overflow beyond
// max_inflight is counted (not delayed), and a stop request ends the run
// promptly with a partial report.
#include <gtest/gtest.h>

#include <thread>

#include "mock_server.h"
#include "tandem/loadgen/report.h"
#include "tandem/loadgen/runner.h"

namespace tandem::loadgen {
namespace {

using testing::MockServer;

std::vector<RequestSpec> workload(const std::vector<std::pair<double, std::string>>& items,
                                  int64_t deadline_ms = 0) {
  std::vector<RequestSpec> w;
  for (const auto& [t, prompt] : items) {
    RequestSpec r;
    r.index = static_cast<int64_t>(w.size());
    r.t = t;
    r.prompt = prompt;
    r.task = "mock";
    r.max_tokens = 8;
    r.deadline_ms = deadline_ms;
    w.push_back(r);
  }
  return w;
}

TEST(Runner, EveryOutcomeIsCountedAndTheScheduleKept) {
  MockServer server;
  ClientOptions co;
  co.url = server.url();
  co.timeout_s = 0.5;
  Client client(co);
  // The hang is first: an open loop must not let it hold back the others.
  const auto w = workload({{0.00, "hang"},
                           {0.05, "ok:4:10"},
                           {0.10, "ok:4:10"},
                           {0.15, "ok:2:150"},  // ~300 ms: misses the 250 ms deadline
                           {0.20, "429"},
                           {0.25, "429"},
                           {0.30, "408"},
                           {0.35, "deadline-mid"},
                           {0.40, "close"},
                           {0.45, "503"},
                           {0.50, "500"},
                           {0.55, "garbage"}},
                          /*deadline_ms=*/250);
  RunOptions ro;
  ro.max_inflight = 64;
  const RunResult run = run_load(w, client, ro);
  ASSERT_EQ(run.results.size(), w.size());
  EXPECT_FALSE(run.interrupted);
  EXPECT_LT(run.max_dispatch_lag_s, 0.1);
  for (size_t i = 0; i < w.size(); ++i) {
    EXPECT_EQ(run.results[i].index, static_cast<int64_t>(i));
    EXPECT_NEAR(run.results[i].t_sent, w[i].t, 0.1) << "request " << i << " was not sent on time";
  }

  ReportOptions rep_opt;
  rep_opt.window_s = 0.25;
  rep_opt.include_requests = true;
  const auto rep = build_report(w, run, rep_opt);
  const auto& o = rep["summary"]["outcomes"];
  EXPECT_EQ(o["ok"], 3);
  EXPECT_EQ(o["timeout"], 1);
  EXPECT_EQ(o["queue_full_429"], 2);
  EXPECT_EQ(o["deadline_408"], 1);
  EXPECT_EQ(o["deadline_stream"], 1);
  EXPECT_EQ(o["disconnected"], 1);
  EXPECT_EQ(o["unavailable_503"], 1);
  EXPECT_EQ(o["server_5xx"], 1);
  EXPECT_EQ(o["bad_response"], 1);
  EXPECT_EQ(o["overflow"], 0);
  EXPECT_EQ(rep["summary"]["errors"], 9);
  EXPECT_EQ(rep["summary"]["output_tokens"], 10);
  EXPECT_EQ(rep["summary"]["tiers"]["mock"], 3);
  EXPECT_EQ(rep["summary"]["goodput"]["good"], 2);
  EXPECT_EQ(rep["summary"]["goodput"]["with_deadline"], 12);
  EXPECT_EQ(rep["summary"]["goodput"]["deadline_met"], 2);
  EXPECT_NEAR(rep["summary"]["goodput"]["attainment"].get<double>(), 2.0 / 12, 1e-12);
  EXPECT_EQ(rep["summary"]["latency_ms"]["count"], 3);
  EXPECT_EQ(rep["summary"]["ttft_ms"]["count"], 3);
  EXPECT_EQ(rep["requests"].size(), w.size());
  EXPECT_EQ(rep["requests"][0]["outcome"], "timeout");

  // The windows add up to the totals.
  int64_t arrivals = 0, completed = 0, ok = 0;
  for (const auto& win : rep["windows"]) {
    arrivals += win["arrivals"].get<int64_t>();
    completed += win["completed"].get<int64_t>();
    ok += win["ok"].get<int64_t>();
  }
  EXPECT_EQ(arrivals, 12);
  EXPECT_EQ(completed, 12);
  EXPECT_EQ(ok, 3);
  EXPECT_EQ(rep["windows"][0]["arrivals"], 5);  // t < 0.25
  const std::string table = format_report(rep);
  EXPECT_NE(table.find("queue_full_429 2"), std::string::npos) << table;
}

TEST(Runner, OverflowIsCountedNotDelayed) {
  MockServer server;
  ClientOptions co;
  co.url = server.url();
  Client client(co);
  // Five at once, room for two: the other three are overflow, immediately.
  const auto w = workload({{0, "ok:3:100"},
                           {0, "ok:3:100"},
                           {0, "ok:3:100"},
                           {0, "ok:3:100"},
                           {0, "ok:3:100"},
                           {0.6, "ok:1:1"}});
  RunOptions ro;
  ro.max_inflight = 2;
  const RunResult run = run_load(w, client, ro);
  const auto rep = build_report(w, run, {});
  EXPECT_EQ(rep["summary"]["outcomes"]["ok"], 3);  // two at once, and the late one
  EXPECT_EQ(rep["summary"]["outcomes"]["overflow"], 3);
  EXPECT_EQ(run.peak_inflight, 2);
  for (const auto& r : run.results) {
    if (r.outcome == Outcome::kOverflow) {
      EXPECT_LT(r.t_end, 0.1);
    }
  }
}

TEST(Runner, StopEndsTheRunPromptlyWithAPartialReport) {
  MockServer server;
  ClientOptions co;
  co.url = server.url();
  co.timeout_s = 60;
  Client client(co);
  const auto w = workload({{0, "hang"}, {0.05, "ok:1:1"}, {0.1, "hang"}, {30, "ok:1:1"}});
  std::atomic<bool> stop{false};
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    stop = true;
  });
  const auto t0 = Client::Clock::now();
  const RunResult run = run_load(w, client, {}, &stop);
  stopper.join();
  EXPECT_LT(std::chrono::duration<double>(Client::Clock::now() - t0).count(), 5.0);
  EXPECT_TRUE(run.interrupted);
  EXPECT_EQ(run.scheduled, 4u);
  ASSERT_EQ(run.results.size(), 3u);  // the one due at 30 s was never sent
  const auto rep = build_report(w, run, {});
  EXPECT_EQ(rep["summary"]["outcomes"]["cancelled"], 2);
  EXPECT_EQ(rep["summary"]["outcomes"]["ok"], 1);
  EXPECT_EQ(rep["run"]["interrupted"], true);
  EXPECT_NEAR(rep["summary"]["goodput"]["attainment"].get<double>(), 1.0, 1e-12);
}

}  // namespace
}  // namespace tandem::loadgen
