// Requests without a deadline are routed with the routing deadline
// (EngineOptions::routing_deadline_s; serve/policy.h): the policy is shown that
// deadline instead of "none", which a learned router was not trained to handle.
// Most engines here are never started: submit() only routes and queues, so the
// queue grows with every request (the load a policy sees rises). The last tests
// check that the load a policy sees is the simulator's (sim/simulator.cc).
#include <gtest/gtest.h>

#include <chrono>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "serve/serve_test_util.h"
#include "tandem/serve/engine.h"
#include "tandem/serve/metrics.h"
#include "tandem/serve/server.h"

namespace tandem::testing {
namespace {

// Records the deadline, arrival rate and tier-0 in-flight tokens every choose()
// saw; routes everything to tier 0.
class PolicySpy final : public serve::Policy {
 public:
  explicit PolicySpy(double default_s) : default_s_(default_s) {}
  std::string name() const override { return "spy"; }
  int choose(const serve::RequestFeatures& f, const serve::LoadState& load) const override {
    std::lock_guard<std::mutex> lock(mu_);
    seen_.push_back(f.deadline_s);
    rates_.push_back(load.arrival_rate);
    inflight_.push_back(load.tiers.empty() ? -1 : load.tiers[0].inflight_tokens);
    return 0;
  }
  double default_routing_deadline_s() const override { return default_s_; }
  std::vector<double> seen() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }
  std::vector<double> rates() const {
    std::lock_guard<std::mutex> lock(mu_);
    return rates_;
  }
  std::vector<int64_t> inflight() const {
    std::lock_guard<std::mutex> lock(mu_);
    return inflight_;
  }

 private:
  double default_s_;
  mutable std::mutex mu_;
  mutable std::vector<double> seen_;
  mutable std::vector<double> rates_;
  mutable std::vector<int64_t> inflight_;
};

serve::GenerationParams request(double deadline_s, int i) {
  serve::GenerationParams p;
  p.id = "r" + std::to_string(i);
  p.prompt = {1, 400 + i % 50, 401, 402, 403, 404, 405, 406};
  p.max_tokens = 32 + i % 33;
  p.task = i % 2 ? "bible" : "pydoc";
  p.deadline_s = deadline_s;
  return p;
}

// One-thread engine options with the routing deadline `routing_s`.
serve::EngineOptions routing_options(double routing_s) {
  serve::EngineOptions o;
  o.threads = 1;
  o.routing_deadline_s = routing_s;
  return o;
}

// An engine on the demo big model whose policy is a PolicySpy (default 1.25 s).
struct SpiedEngine {
  serve::Metrics metrics;
  const PolicySpy* spy = nullptr;
  std::unique_ptr<serve::Engine> engine;
  explicit SpiedEngine(const serve::EngineOptions& o) {
    serve::declare_serving_metrics(metrics);
    auto p = std::make_unique<PolicySpy>(1.25);
    spy = p.get();
    engine = std::make_unique<serve::Engine>(
        serve::default_serve_config(source_path("models/big-q8_0.gguf"), ""), o, std::move(p),
        metrics);
  }
};

// What the spy saw for a deadline-free request and for one with 3 s, given
// the engine option `routing_s`.
std::vector<double> seen_with(double routing_s) {
  serve::EngineOptions o = routing_options(routing_s);
  o.slots = 2;
  SpiedEngine se(o);
  EXPECT_TRUE(se.engine->submit(request(0, 0)).stream);
  EXPECT_TRUE(se.engine->submit(request(3.0, 1)).stream);
  return se.spy->seen();
}

TEST(ServeRouting, DeadlineFreeRequestsAreRoutedWithTheRoutingDeadline) {
  const double inf = std::numeric_limits<double>::infinity();
  // Auto (the default): the policy's own default; a request's deadline wins.
  EXPECT_EQ(serve::EngineOptions{}.routing_deadline_s, -1);
  EXPECT_EQ(seen_with(-1), (std::vector<double>{1.25, 3.0}));
  // An explicit routing deadline, and none (the policy sees no deadline).
  EXPECT_EQ(seen_with(0.7), (std::vector<double>{0.7, 3.0}));
  EXPECT_EQ(seen_with(0), (std::vector<double>{inf, 3.0}));
}

// The policy sees the arrival rate before the request it routes is counted, as
// the simulator shows it to the policies it trains (sim/simulator.cc arrive()).
TEST(ServeRouting, PolicySeesTheArrivalRateBeforeTheRequestCounts) {
  SpiedEngine se(routing_options(0));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(se.engine->submit(request(2.0, i)).stream);
  const std::vector<double> rates = se.spy->rates();
  ASSERT_EQ(rates.size(), 3u);
  // Each arrival adds 0.1 (10 s time constant); microseconds apart, nothing decays.
  EXPECT_NEAR(rates[0], 0.0, 1e-4);
  EXPECT_NEAR(rates[1], 0.1, 1e-4);
  EXPECT_NEAR(rates[2], 0.2, 1e-4);
}

// In-flight tokens are the tokens running sequences may still generate (policy.h),
// as the simulator counts them: they fall while a sequence streams, to 0 at its end.
TEST(ServeRouting, InflightTokensFallAsSequencesGenerate) {
  SpiedEngine se(routing_options(0));
  serve::Engine& e = *se.engine;
  e.start();
  serve::GenerationParams a = request(0, 0);
  a.max_tokens = 48;
  a.sampling.repeat_penalty = 1.3f;  // keeps the demo model from ending early
  const serve::Admission first = e.submit(a);
  ASSERT_TRUE(first.stream);
  int chunks = 0;  // each text event carries at least one token
  while (chunks < 8) {
    std::optional<serve::Event> ev = first.stream->next(std::chrono::seconds(60));
    ASSERT_TRUE(ev && ev->kind == serve::Event::Kind::kText) << "the sequence ended early";
    ++chunks;
  }
  serve::GenerationParams b = request(0, 1);
  b.max_tokens = 4;
  const serve::Admission second = e.submit(b);  // sees the first one's remaining tokens
  ASSERT_TRUE(second.stream);
  ASSERT_TRUE(final_event(*first.stream));
  ASSERT_TRUE(final_event(*second.stream));
  ASSERT_TRUE(e.submit(request(0, 2)).stream);  // nothing runs now
  const std::vector<int64_t> seen = se.spy->inflight();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], 0);
  EXPECT_LE(seen[1], 48 - chunks);
  EXPECT_GE(seen[1], 0);
  EXPECT_EQ(seen[2], 0);
  e.stop();
}

// The shipped dev-VM router: deadline-free requests are routed exactly as the
// same requests carrying the policy's default routing deadline, not as "no
// deadline". (The engine here never runs, so the queue grows with free slots: a
// state the simulator never produces; the point is only which input the policy
// gets. tests/router's RoutingDeadline test shows the effect under real load.)
TEST(ServeRouting, LearnedRouterTreatsDeadlineFreeRequestsAsTheDefaultDeadline) {
  const std::string policy_file = source_path("bench/results/router_policy_devvm.json");
  const serve::ServeConfig config = serve::load_serve_config(source_path("config/demo-tiers.json"));
  const double def =  // the middle of its training deadlines
      serve::make_policy("learned:" + policy_file, config.tiers)->default_routing_deadline_s();
  ASSERT_GT(def, 0.5);
  ASSERT_LT(def, 3.0);
  // Tier picks of 40 requests (deadline `deadline_s`) into an engine that never
  // runs them.
  auto picks = [&](double deadline_s, double routing_s) {
    serve::Metrics metrics;
    serve::declare_serving_metrics(metrics);
    serve::EngineOptions o = routing_options(routing_s);
    o.max_queued_requests = 64;
    serve::Engine e(config, o, serve::make_policy("learned:" + policy_file, config.tiers), metrics);
    std::map<std::string, int> n;
    for (int i = 0; i < 40; ++i) {
      const serve::Admission a = e.submit(request(deadline_s, i));
      EXPECT_TRUE(a.stream) << a.error.message;
      if (a.stream) ++n[a.stream->tier()];
    }
    return n;
  };
  const auto with_default = picks(def, 0);  // every request carries the default deadline
  const auto deadline_free = picks(0, -1);  // none; auto routing deadline
  const auto untrained = picks(0, 0);       // none, shown as none (the old behaviour)
  EXPECT_EQ(deadline_free, with_default);
  EXPECT_NE(untrained, with_default) << "shown no deadline, this router routes differently";
}

}  // namespace
}  // namespace tandem::testing
