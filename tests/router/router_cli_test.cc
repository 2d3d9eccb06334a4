// `tandem router` end to end: train a tiny policy on the recorded dev-VM profile,
// evaluate it, simulate with it, and check that a mismatched policy is refused.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace {

struct CliRun {
  int status = -1;
  std::string out;
};

CliRun run(const std::string& args) {
  const std::string cmd = fmt::format("'{}' {} 2>&1", TANDEM_BINARY, args);
  CliRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
  r.status = pclose(p);
  return r;
}

TEST(RouterCli, TrainEvalSim) {
  const std::string src = TANDEM_SOURCE_DIR;
  const std::string profile = src + "/bench/results/router_profile_devvm.json";
  const auto dir =
      std::filesystem::temp_directory_path() / ("tandem_router_cli_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string pol = (dir / "p.json").string(), curve = (dir / "c.json").string(),
                    rep = (dir / "e.json").string();
  CliRun r =
      run(fmt::format("router train --profile '{}' --out '{}' --episodes 3 --episode-s 20 "
                      "--curve '{}'",
                      profile, pol, curve));
  ASSERT_EQ(r.status, 0) << r.out;
  nlohmann::json c = nlohmann::json::parse(std::ifstream(curve));
  EXPECT_EQ(c["curve"].size(), 3u);
  // The policy records its training deadlines (the dev-VM profile's: 3-6x 0.30 s),
  // whose middle is the server's default routing deadline for deadline-free requests.
  nlohmann::json pj = nlohmann::json::parse(std::ifstream(pol));
  ASSERT_TRUE(pj["features"].contains("deadline_s")) << pj["features"].dump();
  EXPECT_NEAR(pj["features"]["deadline_s"][0].get<double>(), 0.90, 0.01);
  EXPECT_NEAR(pj["features"]["deadline_s"][1].get<double>(), 1.80, 0.01);

  r = run(fmt::format("router eval --profile '{}' --policy 'learned:{}' --duration 20 --json '{}'",
                      profile, pol, rep));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("fixed:economy"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("learned:"), std::string::npos) << r.out;
  nlohmann::json e = nlohmann::json::parse(std::ifstream(rep));
  EXPECT_EQ(e["policies"].size(), 6u);    // 4 fixed, the queue heuristic, the learned one
  EXPECT_EQ(e["cells"].size(), 6u * 5u);  // x bursty, heavy, diurnal, mix-shift, mix-to-worst

  r =
      run(fmt::format("router sim --profile '{}' --policy 'learned:{}' --arrival heavy:rate=3 "
                      "--duration 20s --deadline-ms 2000",
                      profile, pol));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("availability"), std::string::npos) << r.out;

  // A profile with other tier names: the policy is refused, naming both lists.
  std::string text;
  {
    std::ifstream f(profile);
    text.assign(std::istreambuf_iterator<char>(f), {});
  }
  const size_t at = text.find("\"economy\"");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 9, "\"cheap\"");
  const std::string other = (dir / "other.json").string();
  std::ofstream(other) << text;
  r = run(fmt::format("router sim --profile '{}' --policy 'learned:{}'", other, pol));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("trained for tiers [quality, balanced, fast, economy]"), std::string::npos)
      << r.out;
  std::filesystem::remove_all(dir);
}

// `router sim --requests-json`: one line per request, consistent with the summary it
// prints (request count, availability, mean latency over the answered ones).
TEST(RouterCli, SimWritesOneLinePerRequest) {
  const std::string profile =
      std::string(TANDEM_SOURCE_DIR) + "/bench/results/router_profile_devvm.json";
  const auto path = std::filesystem::temp_directory_path() /
                    ("tandem_router_sim_requests_" + std::to_string(getpid()) + ".jsonl");
  // The big tier at 6/s with 500 ms deadlines: some requests on time, some dropped.
  const CliRun r = run(fmt::format(
      "router sim --profile '{}' --policy fixed:quality --arrival poisson:rate=6 --duration 30s "
      "--deadline-ms 500 --requests-json '{}'",
      profile, path.string()));
  ASSERT_EQ(r.status, 0) << r.out;
  int requests = 0;
  double availability = 0, mean_latency = 0;
  ASSERT_EQ(std::sscanf(r.out.c_str(), "fixed:quality: %d requests, availability %lf%%", &requests,
                        &availability),
            2)
      << r.out;
  const size_t at = r.out.find("mean latency ");
  ASSERT_NE(at, std::string::npos) << r.out;
  mean_latency = std::stod(r.out.substr(at + 13));

  std::ifstream f(path);
  int lines = 0, on_time = 0, dropped = 0, answered = 0;
  double latency_sum = 0, last_t = -1;
  for (std::string line; std::getline(f, line); ++lines) {
    const nlohmann::json j = nlohmann::json::parse(line);
    EXPECT_EQ(j["id"].get<int>(), lines);
    EXPECT_GE(j["t"].get<double>(), last_t);  // the workload's arrival order
    last_t = j["t"].get<double>();
    EXPECT_EQ(j["tier"], "quality");
    EXPECT_EQ(j["deadline_ms"].get<double>(), 500.0);
    const std::string outcome = j["outcome"];
    if (outcome == "on_time") {
      ++on_time;
      EXPECT_LE(j["latency_ms"].get<double>(), 500.0) << line;
    }
    if (outcome == "dropped") {
      ++dropped;
      EXPECT_TRUE(j["latency_ms"].is_null()) << line;
    }
    if (!j["latency_ms"].is_null()) ++answered, latency_sum += j["latency_ms"].get<double>();
  }
  EXPECT_EQ(lines, requests);
  EXPECT_GT(on_time, 0);
  EXPECT_GT(dropped, 0);  // otherwise the case tests nothing about unanswered requests
  EXPECT_NEAR(100.0 * on_time / lines, availability, 0.05);
  ASSERT_GT(answered, 0);
  EXPECT_NEAR(latency_sum / answered / 1000, mean_latency, 0.0005);
  std::filesystem::remove(path);
}

// `train --seeds N`: every seed is validated, the one with the highest validation score is
// written to --out (and marked selected in the curve file), each seed's policy to --all-out.
TEST(RouterCli, TrainSeedsKeepsTheValidationBest) {
  const std::string src = TANDEM_SOURCE_DIR;
  const std::string profile = src + "/bench/results/router_profile_devvm.json";
  const auto dir =
      std::filesystem::temp_directory_path() / ("tandem_router_seeds_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string pol = (dir / "p.json").string(), curve = (dir / "c.json").string(),
                    prefix = (dir / "all").string();
  const CliRun r = run(
      fmt::format("router train --profile '{}' --out '{}' --episodes 4 --episode-s 20 --seeds 3 "
                  "--seed 5 --val-every 2 --val-duration 30 --curve '{}' --all-out '{}'",
                  profile, pol, curve, prefix));
  ASSERT_EQ(r.status, 0) << r.out;
  const nlohmann::json c = nlohmann::json::parse(std::ifstream(curve));
  ASSERT_EQ(c["seeds"].size(), 3u);
  double best = -1e9;
  uint64_t best_seed = 0;
  int selected = 0;
  for (const auto& s : c["seeds"]) {
    EXPECT_TRUE(
        std::filesystem::exists(fmt::format("{}.seed{}.json", prefix, s["seed"].get<int>())));
    ASSERT_EQ(s["checkpoints"].size(), 2u);  // after episodes 2 and 4
    double seed_best = -1e9;
    for (const auto& k : s["checkpoints"])
      seed_best = std::max(seed_best, k["score"].get<double>());
    EXPECT_DOUBLE_EQ(s["best"]["score"].get<double>(), seed_best);
    if (seed_best > best) {
      best = seed_best;
      best_seed = s["seed"].get<uint64_t>();
    }
    selected += s["selected"].get<bool>() ? 1 : 0;
  }
  EXPECT_EQ(selected, 1);
  const nlohmann::json p = nlohmann::json::parse(std::ifstream(pol));
  EXPECT_EQ(p["meta"]["seed"].get<uint64_t>(), best_seed);
  EXPECT_EQ(c["meta"]["seed"].get<uint64_t>(), best_seed);
  EXPECT_EQ(p["meta"]["validation_seed"].get<int>(), 777);
  // The selected policy file is the selected seed's own file, byte for byte in its network.
  const nlohmann::json own =
      nlohmann::json::parse(std::ifstream(fmt::format("{}.seed{}.json", prefix, best_seed)));
  EXPECT_EQ(p["net"], own["net"]);
  std::filesystem::remove_all(dir);
}

}  // namespace
