// The engine's idle spin (EngineOptions::idle_spin_s): with nothing to run, the
// loop polls for new work before it sleeps. The spin must end at once for new
// work and for stop(); a spin that missed either would hold a request or the
// shutdown for the whole (here deliberately huge) spin time.
#include <gtest/gtest.h>

#include <chrono>

#include "serve/serve_test_util.h"
#include "tandem/serve/engine.h"
#include "tandem/serve/metrics.h"
#include "tandem/serve/server.h"

namespace tandem::testing {
namespace {

using Seconds = std::chrono::duration<double>;

// Runs one request to its end; the seconds it took (or fails the test).
double run_one(serve::Engine& e, int i) {
  serve::GenerationParams p;
  p.id = "r" + std::to_string(i);
  p.prompt = {1, 400 + i, 401, 402, 403};
  p.max_tokens = 4;
  const auto t0 = std::chrono::steady_clock::now();
  const serve::Admission a = e.submit(std::move(p));
  EXPECT_TRUE(a.stream) << a.error.message;
  if (!a.stream) return 1e9;
  const std::optional<serve::Event> end = final_event(*a.stream);
  if (!end) {
    ADD_FAILURE() << "request " << i << " got no event within 60 s";
    return 1e9;
  }
  if (end->kind == serve::Event::Kind::kError) ADD_FAILURE() << end->error.message;
  return Seconds(std::chrono::steady_clock::now() - t0).count();
}

TEST(ServeIdleSpin, NewWorkAndStopEndTheSpinAtOnce) {
  constexpr double kSpin = 120;  // far longer than the test may take
  serve::Metrics metrics;
  serve::declare_serving_metrics(metrics);
  serve::EngineOptions o;
  o.threads = 1;
  o.idle_spin_s = kSpin;
  serve::ServeConfig config = serve::default_serve_config(source_path("models/big-q8_0.gguf"), "");
  serve::Engine e(config, o, serve::make_policy("fixed:big", config.tiers), metrics);
  e.start();
  // Each request after the first arrives while the loop spins after the one before.
  for (int i = 0; i < 3; ++i) EXPECT_LT(run_one(e, i), 30.0) << "request " << i;
  const auto t0 = std::chrono::steady_clock::now();
  e.stop();
  EXPECT_LT(Seconds(std::chrono::steady_clock::now() - t0).count(), 30.0)
      << "stop() waited for the idle spin";
}

TEST(ServeIdleSpin, OffByDefaultForEmbedders) {
  // The library default sleeps at once; `tandem serve` turns the spin on
  // (--idle-spin-ms).
  EXPECT_EQ(serve::EngineOptions{}.idle_spin_s, 0);
}

}  // namespace
}  // namespace tandem::testing
