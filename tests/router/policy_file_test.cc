#include "tandem/router/policy_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tandem/base/error.h"
#include "tandem/serve/policy.h"
#include "tandem/sim/profile.h"
#include "tandem/sim/simulator.h"
#include "tandem/sim/workload.h"

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

// The default routing deadline for deadline-free requests: the middle of the
// training deadlines the file records; older files (no record) get what
// `tandem router train` used, 4.5x the best tier's unloaded latency of a mean
// request (64 prompt tokens, 49 steps); no costs: none. A bad record is refused.
TEST(PolicyFile, DefaultRoutingDeadlineIsTheMiddleOfTheTrainingDeadlines) {
  FeatureLayout l = layout();
  Mlp net(l.size(), 8, 8, l.actions(), 3);
  EXPECT_DOUBLE_EQ(LearnedPolicy(l, net, "old").default_routing_deadline_s(),
                   4.5 * (64 * 0.001 + 49 * 0.02));
  FeatureLayout none = l;
  none.costs.clear();
  EXPECT_EQ(LearnedPolicy(none, net, "none").default_routing_deadline_s(), 0);
  l.deadline_lo_s = 1.0;
  l.deadline_hi_s = 2.0;
  const std::string path = temp_path("dl.json");
  save_policy(path, l, net);
  const auto pol = load_policy(path);
  EXPECT_EQ(pol->layout().deadline_lo_s, 1.0);
  EXPECT_EQ(pol->layout().deadline_hi_s, 2.0);
  EXPECT_DOUBLE_EQ(pol->default_routing_deadline_s(), 1.5);
  std::string s = read(path);
  const size_t at = s.find("\"deadline_s\"");
  ASSERT_NE(at, std::string::npos);
  s.replace(s.find('[', at), s.find(']', at) - s.find('[', at) + 1, "[2.0, 1.0]");
  std::ofstream(path) << s;
  expect_error([&] { load_policy(path); }, "features.deadline_s must be [lo, hi]");
  std::filesystem::remove(path);
  // The shipped policies (written before the record existed) default to the
  // middle of the deadlines they were trained with (dev VM: 0.90-1.80 s).
  const auto devvm =
      load_policy(std::string(TANDEM_SOURCE_DIR) + "/bench/results/router_policy_devvm.json");
  EXPECT_NEAR(devvm->default_routing_deadline_s(), 1.35, 0.01);
}

// Requests without a deadline under real (simulated) bursty load, on the
// recorded dev-VM profile with the shipped dev-VM router -- the case of the
// live dashboard run, where the router, shown "no deadline", sent most requests
// to the big model (6-12 s latencies, 429s). With the routing deadline (the
// server's default, the middle of the training deadlines) the router keeps them
// within the training deadlines; shown no deadline, it does not.
TEST(RoutingDeadline, DeadlineFreeRequestsUnderBurstyLoadStayWithinTheTrainingDeadlines) {
  const std::string src = TANDEM_SOURCE_DIR;
  const sim::Profile p = sim::load_profile(src + "/bench/results/router_profile_devvm.json");
  const auto pol = load_policy(src + "/bench/results/router_policy_devvm.json");
  sim::WorkloadSpec w;
  w.arrival = "bursty:on=16,off=1.5,on_s=5,off_s=10";
  w.duration_s = 60;
  w.deadline_ms = {0, 0};
  w.max_tokens = {32, 64};
  w.seed = 3;
  const auto reqs = sim::make_workload(w, p.domains);
  sim::SimOptions routed, none;
  routed.routing_deadline_s = serve::resolve_routing_deadline(-1, *pol);  // auto, as serve
  EXPECT_NEAR(routed.routing_deadline_s, 1.35, 0.01);
  const auto mr = sim::summarize(p, sim::simulate(p, routed, reqs, *pol), 10, w.duration_s);
  const auto mn = sim::summarize(p, sim::simulate(p, none, reqs, *pol), 10, w.duration_s);
  ASSERT_GT(mr.requests, 200);
  EXPECT_LE(mr.p99_latency_s, 1.8);  // the top of the training deadlines (0.9-1.8 s)
  EXPECT_GT(mr.tier_share[p.tiers.size() - 1], 0.3) << "the little model takes the bursts";
  EXPECT_GT(mn.mean_latency_s, 2 * mr.mean_latency_s) << "shown no deadline: big-model latency";
}

}  // namespace
}  // namespace tandem::router
