#include "tandem/router/policy_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tandem/base/error.h"
#include "tandem/serve/policy.h"

namespace tandem::router {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("tandem_router_" + std::to_string(getpid()) + "_" + name))
      .string();
}

FeatureLayout layout() {
  FeatureLayout l;
  l.domains = {"code", "prose"};
  l.tiers = {"big", "little"};
  l.slots = 8;
  l.costs = {{0.02, 0.004, 0.001}, {0.002, 0.0004, 0.0001}};
  return l;
}

std::vector<serve::TierSpec> specs(std::vector<std::string> names) {
  std::vector<serve::TierSpec> t;
  for (auto& n : names) {
    serve::TierSpec s;
    s.name = n;
    t.push_back(s);
  }
  return t;
}

std::string read(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void expect_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(PolicyFile, RoundTripChoosesTheSame) {
  const FeatureLayout l = layout();
  Mlp net(l.size(), 8, 8, l.actions(), 3);
  const std::string path = temp_path("rt.json");
  save_policy(path, l, net, {{"note", "test"}});
  const auto pol = serve::make_policy("learned:" + path, specs({"big", "little"}));
  const LearnedPolicy direct(l, net, "mem");
  for (int q = 0; q < 20; ++q) {
    serve::RequestFeatures f;
    f.task = q % 2 ? "code" : "prose";
    f.max_tokens = 16 * q;
    serve::LoadState s;
    s.tiers.resize(2);
    s.queued = q;
    s.tiers[0].queued = q;
    s.arrival_rate = q * 1.5;
    EXPECT_EQ(pol->choose(f, s), direct.choose(f, s));
  }
  EXPECT_EQ(pol->name(), "learned:" + path);
  std::filesystem::remove(path);
}

TEST(PolicyFile, CorruptOrMismatchedFilesAreRefused) {
  const FeatureLayout l = layout();
  Mlp net(l.size(), 8, 8, l.actions(), 3);
  const std::string path = temp_path("bad.json");
  save_policy(path, l, net);
  const std::string good = read(path);
  auto write = [&](const std::string& s) { std::ofstream(path) << s; };

  // Another tier list than the serve configuration's.
  expect_error(
      [&] {
        serve::make_policy("learned:" + path, specs({"big", "medium"}));
      },
      "trained for tiers [big, little] but the configuration has [big, medium]");
  // A changed weight: the checksum catches it.
  std::string s = good;
  const size_t w = s.find("\"w\"");
  const size_t digit = s.find_first_of("123456789", w + 10);
  s[digit] = s[digit] == '9' ? '8' : static_cast<char>(s[digit] + 1);
  write(s);
  expect_error([&] { load_policy(path); }, "checksum mismatch");
  // Truncated.
  write(good.substr(0, good.size() / 2));
  expect_error([&] { load_policy(path); }, "does not parse");
  // Not a policy / another version / another layout.
  write(R"({"format": "something-else"})");
  expect_error([&] { load_policy(path); }, "not a router policy");
  s = good;
  s.replace(s.find("\"version\": 1"), 12, "\"version\": 9");
  write(s);
  expect_error([&] { load_policy(path); }, "version 9 is not supported");
  s = good;
  s.replace(s.find("\"v2\""), 4, "\"v1\"");
  write(s);
  expect_error([&] { load_policy(path); }, "feature layout 'v1'");
  // Net sizes that do not fit the layout (a domain removed from the header).
  s = good;
  s.replace(s.find("\"prose\""), 7, "");
  s.replace(s.find("\"code\","), 7, "\"code\"");
  write(s);
  expect_error([&] { load_policy(path); }, "inputs but the feature layout");
  expect_error([&] { load_policy(temp_path("missing.json")); }, "cannot open");
  expect_error([&] { serve::make_policy("learned:", specs({"big"})); }, "give the policy file");
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace tandem::router

namespace tandem::router {
namespace {

TEST(Features, LatencyEstimateGrowsWithLoadAndTierCost) {
  FeatureLayout l = layout();
  serve::RequestFeatures f;
  f.task = "code";
  f.prompt_tokens = 50;
  f.max_tokens = 40;
  f.deadline_s = 2;
  serve::LoadState idle;
  idle.tiers.resize(2);
  idle.free_slots = 8;
  const Vec a = l.encode(f, idle);
  ASSERT_EQ(a.size(), l.size());
  const int est0 = l.size() - 2;  // the last two: estimates for big, little
  EXPECT_DOUBLE_EQ(a(0), 1.0);    // one-hot "code"
  EXPECT_DOUBLE_EQ(a(1), 0.0);
  EXPECT_NEAR(a(est0), (50 * 0.001 + 40 * 0.02) / 2, 1e-12);
  EXPECT_NEAR(a(est0 + 1), (50 * 0.0001 + 40 * 0.002) / 2, 1e-12);
  serve::LoadState busy = idle;
  busy.tiers[0].running = 8;
  busy.tiers[0].inflight_tokens = 300;
  busy.tiers[0].queued = 4;
  busy.tiers[0].queued_tokens = 400;
  busy.running = 8;
  busy.queued = 4;
  busy.free_slots = 0;
  const Vec b = l.encode(f, busy);
  EXPECT_GT(b(est0), a(est0));
  EXPECT_GT(b(est0 + 1), a(est0 + 1));
  EXPECT_LE(b(est0), 4.0);  // capped
  f.deadline_s = std::numeric_limits<double>::infinity();
  const Vec c = l.encode(f, idle);
  EXPECT_NEAR(c(est0), (50 * 0.001 + 40 * 0.02) / 10, 1e-12);  // over 10 s without a deadline
}

}  // namespace
}  // namespace tandem::router
