// /metrics: the Prometheus text format (unit level and promtool), and the
// model-server protocol gauges that cluster routers scrape, checked while a
// load of concurrent requests runs.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "serve/serve_test_util.h"
#include "tandem/base/error.h"
#include "tandem/serve/metrics.h"

namespace tandem::testing {
namespace {

using serve::Metrics;

TEST(Metrics, HistogramBucketsAreCumulativeWithSumAndCount) {
  Metrics m;
  m.declare("lat_seconds", Metrics::Kind::kHistogram, "Latency", {"tier"}, {0.1, 1, 10});
  for (double v : {0.05, 0.1, 0.5, 5.0, 50.0}) m.observe("lat_seconds", v, {"a"});
  const std::string t = m.render();
  EXPECT_NE(t.find("# TYPE lat_seconds histogram\n"), std::string::npos);
  EXPECT_NE(t.find("lat_seconds_bucket{tier=\"a\",le=\"0.1\"} 2\n"), std::string::npos) << t;
  EXPECT_NE(t.find("lat_seconds_bucket{tier=\"a\",le=\"1\"} 3\n"), std::string::npos) << t;
  EXPECT_NE(t.find("lat_seconds_bucket{tier=\"a\",le=\"10\"} 4\n"), std::string::npos) << t;
  EXPECT_NE(t.find("lat_seconds_bucket{tier=\"a\",le=\"+Inf\"} 5\n"), std::string::npos) << t;
  EXPECT_NE(t.find("lat_seconds_sum{tier=\"a\"} 55.65\n"), std::string::npos) << t;
  EXPECT_NE(t.find("lat_seconds_count{tier=\"a\"} 5\n"), std::string::npos) << t;
}

TEST(Metrics, LabelValuesAreEscapedAndMisuseIsRefused) {
  Metrics m;
  m.declare("x_total", Metrics::Kind::kCounter, "X", {"v"});
  m.add("x_total", 2, {"a\"b\\c\nd"});
  EXPECT_NE(m.render().find("x_total{v=\"a\\\"b\\\\c\\nd\"} 2\n"), std::string::npos) << m.render();
  EXPECT_THROW(m.add("x_total", 1), Error);           // wrong label count
  EXPECT_THROW(m.set("x_total", 1, {"a"}), Error);    // counter used as gauge
  EXPECT_THROW(m.add("undeclared_total", 1), Error);  // unknown family
  EXPECT_EQ(m.value("x_total", {"a\"b\\c\nd"}), 2.0);
}

// Lines of one family: name{labels} value.
std::vector<std::string> series_of(const std::string& text, const std::string& name) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const size_t end = line.find_first_of("{ ");
    if (line.substr(0, end) == name) out.push_back(line);
  }
  return out;
}

double value_of(const std::string& line) {
  return std::stod(line.substr(line.rfind(' ') + 1));
}

TEST(ServeMetrics, ProtocolGaugesAndPromtoolWhileLoadRuns) {
  TestServerOptions o;
  o.engine.slots = 4;
  o.with_little = false;
  TestServer s(o);
  std::atomic<bool> done{false};
  std::vector<std::thread> load;
  for (int i = 0; i < 8; ++i)
    load.emplace_back([&] {
      auto c = s.client();
      nlohmann::json body = {{"prompt", "Blessed are the meek"}, {"max_tokens", 40}};
      c.Post("/v1/completions", body.dump(), "application/json");
    });
  // Scrape 20 times a second while the load runs.
  auto c = s.client();
  int scrapes = 0;
  double max_running = 0, max_kv = 0;
  std::string last;
  const char* gauges[] = {"vllm:num_requests_waiting", "vllm:num_requests_running",
                          "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc",
                          "vllm:cache_config_info"};
  std::thread watcher([&] {
    for (auto& t : load) t.join();
    done = true;
  });
  while (!done || scrapes < 5) {
    auto res = c.Get("/metrics");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200);
    EXPECT_NE(res->get_header_value("Content-Type").find("text/plain"), std::string::npos);
    last = res->body;
    for (const char* g : gauges) {
      EXPECT_NE(last.find(std::string("# TYPE ") + g + " gauge\n"), std::string::npos) << g;
      const auto lines = series_of(last, g);
      ASSERT_EQ(lines.size(), 1u) << g << " must be one aggregate series";
      const double v = value_of(lines[0]);
      if (std::string(g).find("usage_perc") != std::string::npos) {
        EXPECT_GE(v, 0.0);
        EXPECT_LE(v, 1.0);
        max_kv = std::max(max_kv, v);
      }
      if (std::string(g) == "vllm:num_requests_running") max_running = std::max(max_running, v);
      if (std::string(g) == "vllm:num_requests_running" ||
          std::string(g) == "vllm:num_requests_waiting") {
        EXPECT_EQ(lines[0].find('{'), std::string::npos) << "unlabelled: " << lines[0];
      }
    }
    ++scrapes;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  watcher.join();
  EXPECT_GE(max_running, 2.0) << "the load should have run several sequences at once";
  EXPECT_GT(max_kv, 0.0);
  const auto info = series_of(last, "vllm:cache_config_info");
  EXPECT_TRUE(std::regex_search(info[0], std::regex(R"(block_size="\d+")"))) << info[0];
  EXPECT_TRUE(std::regex_search(info[0], std::regex(R"(num_gpu_blocks="\d+")"))) << info[0];
  EXPECT_EQ(s.metrics().value("tandem:requests_total", {"big", "200"}), 8.0);

  // promtool: the text must parse; the only lint findings allowed are the colons that the
  // tandem:* / vllm:* names carry by design (the protocol's names contain them).
  if (std::system("command -v promtool >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "promtool not installed (Debian package prometheus)";
  const std::string path = ::testing::TempDir() + "tandem_metrics.txt";
  std::ofstream(path) << last;
  const std::string out_path = path + ".out";
  const int rc =
      std::system(("promtool check metrics < " + path + " > " + out_path + " 2>&1").c_str());
  std::ifstream out(out_path);
  std::string report((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
  const int code = WEXITSTATUS(rc);
  EXPECT_TRUE(code == 0 || code == 3) << "promtool could not parse /metrics:\n" << report;
  std::istringstream lines(report);
  for (std::string line; std::getline(lines, line);)
    EXPECT_NE(line.find("metric names should not contain ':'"), std::string::npos)
        << "promtool finding: " << line;
}

}  // namespace
}  // namespace tandem::testing
