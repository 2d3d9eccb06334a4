// End-to-end runs of the `tandem loadgen` binary against the in-process mock
// server: the JSON report has the expected counts, schedules are seeded,
// Ctrl-C prints a partial report, a server that is down is counted, and
// --plot draws a PNG.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "mock_server.h"

namespace {
namespace fs = std::filesystem;
using tandem::loadgen::testing::MockServer;

fs::path temp_dir() {
  static fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / fmt::format("tandem-loadgen-cli-{}", getpid());
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct CliRun {
  int code;
  std::string out, err;
};

// Runs `tandem loadgen ARGS` in the background (the mock server lives in this
// process, so std::system's blocking is fine: the server has its own threads).
CliRun loadgen(const std::string& args) {
  const fs::path out = temp_dir() / "stdout", err = temp_dir() / "stderr";
  const std::string cmd =
      fmt::format("{} loadgen {} >{} 2>{}", TANDEM_BINARY, args, out.string(), err.string());
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), slurp(out), slurp(err)};
}

nlohmann::json read_json(const fs::path& p) {
  return nlohmann::json::parse(slurp(p));
}

TEST(LoadgenCli, TraceRunProducesTheExpectedReport) {
  MockServer server;
  const fs::path trace = temp_dir() / "trace.jsonl", report = temp_dir() / "report.json";
  {
    std::ofstream f(trace);
    const char* prompts[] = {"ok:3:10", "ok:3:10",      "ok:3:10", "ok:3:10", "429", "429",
                             "408",     "deadline-mid", "close",   "hang",    "503", "garbage"};
    double t = 0;
    for (const char* p : prompts) {
      f << nlohmann::json({{"t", t}, {"prompt", p}, {"task", "mock"}, {"deadline_ms", 2000}}).dump()
        << "\n";
      t += 0.05;
    }
  }
  const CliRun r =
      loadgen(fmt::format("--url {} --trace {} --timeout 0.5s --json {} --json-requests "
                          "--window 250ms --quiet",
                          server.url(), trace.string(), report.string()));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("queue_full_429 2"), std::string::npos) << r.out;
  const auto j = read_json(report);
  EXPECT_EQ(j["schema"], "tandem.loadgen/1");
  EXPECT_NE(j["command_line"].get<std::string>().find("--trace"), std::string::npos);
  EXPECT_EQ(j["config"]["trace"], trace.string());
  EXPECT_EQ(j["run"]["scheduled"], 12);
  EXPECT_EQ(j["run"]["sent"], 12);
  const auto& o = j["summary"]["outcomes"];
  EXPECT_EQ(o["ok"], 4);
  EXPECT_EQ(o["queue_full_429"], 2);
  EXPECT_EQ(o["deadline_408"], 1);
  EXPECT_EQ(o["deadline_stream"], 1);
  EXPECT_EQ(o["disconnected"], 1);
  EXPECT_EQ(o["timeout"], 1);
  EXPECT_EQ(o["unavailable_503"], 1);
  EXPECT_EQ(o["bad_response"], 1);
  EXPECT_EQ(j["summary"]["output_tokens"], 12);
  EXPECT_EQ(j["summary"]["goodput"]["good"], 4);
  EXPECT_EQ(j["summary"]["tiers"]["mock"], 4);
  EXPECT_EQ(j["requests"].size(), 12u);
  EXPECT_GE(j["windows"].size(), 3u);
  EXPECT_EQ(server.requests().size(), 12u);
  EXPECT_EQ(server.requests()[0].body["task"], "mock");
}

TEST(LoadgenCli, SeededSchedulesRepeat) {
  const fs::path a = temp_dir() / "a.jsonl", b = temp_dir() / "b.jsonl", c = temp_dir() / "c.jsonl";
  const std::string common =
      "--arrival bursty:on=20,off=1,on_s=2,off_s=3 --duration 30s --max-tokens 8-64 --dry-run";
  ASSERT_EQ(loadgen(fmt::format("{} --seed 5 --dump-trace {}", common, a.string())).code, 0);
  ASSERT_EQ(loadgen(fmt::format("{} --seed 5 --dump-trace {}", common, b.string())).code, 0);
  ASSERT_EQ(loadgen(fmt::format("{} --seed 6 --dump-trace {}", common, c.string())).code, 0);
  EXPECT_FALSE(slurp(a).empty());
  EXPECT_EQ(slurp(a), slurp(b));
  EXPECT_NE(slurp(a), slurp(c));
}

TEST(LoadgenCli, BadSpecIsAClearError) {
  const CliRun r = loadgen("--arrival poisson:rate=4,burst=1 --dry-run");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("unknown parameter 'burst'"), std::string::npos) << r.err;
}

TEST(LoadgenCli, ServerDownIsCountedNotFatal) {
  const fs::path report = temp_dir() / "down.json";
  const CliRun r = loadgen(fmt::format(
      "--url http://127.0.0.1:{} --arrival constant:rate=20 --duration 1s --json {} --quiet",
      tandem::loadgen::testing::unused_port(), report.string()));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = read_json(report);
  EXPECT_EQ(j["run"]["sent"], 20);
  EXPECT_EQ(j["summary"]["outcomes"]["connection"], 20);
  EXPECT_EQ(j["summary"]["outcomes"]["ok"], 0);
}

TEST(LoadgenCli, CtrlCPrintsAPartialReport) {
  MockServer server;
  const fs::path out = temp_dir() / "int.out", report = temp_dir() / "int.json";
  const std::string url = server.url(), json = report.string();
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec (this process has threads).
    const int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int null = open("/dev/null", O_WRONLY);
    dup2(fd, STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
    execl(TANDEM_BINARY, TANDEM_BINARY, "loadgen", "--url", url.c_str(), "--arrival",
          "constant:rate=10", "--duration", "60s", "--max-tokens", "2", "--json", json.c_str(),
          "--quiet", static_cast<char*>(nullptr));
    _exit(127);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  kill(pid, SIGINT);
  int status = 0;
  const auto t0 = std::chrono::steady_clock::now();
  waitpid(pid, &status, 0);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_NE(slurp(out).find("INTERRUPTED"), std::string::npos) << slurp(out);
  const auto j = read_json(report);
  EXPECT_EQ(j["run"]["interrupted"], true);
  EXPECT_EQ(j["run"]["scheduled"], 600);
  EXPECT_GT(j["run"]["sent"].get<int>(), 5);
  EXPECT_LT(j["run"]["sent"].get<int>(), 100);
}

TEST(LoadgenCli, PlotWritesAPng) {
  if (std::system("/usr/bin/python3 -c 'import matplotlib' 2>/dev/null") != 0)
    GTEST_SKIP() << "/usr/bin/python3 has no matplotlib";
  MockServer server;
  const fs::path png = temp_dir() / "run.png";
  const CliRun r =
      loadgen(fmt::format("--url {} --arrival poisson:rate=20 --duration 2s "
                          "--max-tokens 3 --domains pydoc --plot {} --quiet",
                          server.url(), png.string()));
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  const std::string bytes = slurp(png);
  ASSERT_GT(bytes.size(), 1000u);
  EXPECT_EQ(bytes.substr(1, 3), "PNG");
}

}  // namespace
