// measure_profile on the shipped demo models (config/demo-tiers.json), with the
// smallest settings: what the profile holds, not how fast anything ran.
#include "tandem/sim/profiler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "tandem/serve/tiers.h"

namespace tandem::sim {
namespace {

TEST(Profiler, MeasuresModelsPatternsAndQualityOfTheDemoTiers) {
  const std::string src = TANDEM_SOURCE_DIR;
  const serve::ServeConfig config = serve::load_serve_config(src + "/config/demo-tiers.json");
  ProfilerOptions o;
  o.prompts_dir = src + "/bench/prompts";
  o.prompts_per_domain = 1;
  o.quality_tokens = 8;
  o.timing_tokens = 8;
  o.batch = 3;
  o.repeats = 1;
  o.min_rounds = 1;
  o.min_seconds = 0;
  o.forward_points = {1, 4, 16};
  o.engine.slots = 4;
  int lines = 0;
  const Profile p = measure_profile(config, o, [&](const std::string&) { ++lines; });
  EXPECT_GT(lines, 10);

  ASSERT_EQ(p.models.size(), 2u);
  for (const ModelCost& m : p.models) {
    ASSERT_EQ(m.forward.size(), 3u) << m.name;
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_EQ(m.forward[i].first, o.forward_points[i]);
      EXPECT_GT(m.forward[i].second, 0);
    }
    EXPECT_TRUE(std::isfinite(m.logits_row_s) && m.logits_row_s >= 0) << m.name;
  }
  ASSERT_EQ(p.tiers.size(), 4u);
  for (const TierProfile& t : p.tiers) {
    ASSERT_EQ(t.quality.size(), p.domains.size()) << t.name;
    if (!t.speculative()) continue;
    // Per verification: at least one token and at most a full draft plus the big model's
    // own; the big model is fed at least every emitted token.
    EXPECT_GE(t.tokens_per_cycle, 1) << t.name;
    EXPECT_LE(t.tokens_per_cycle, 4) << t.name;
    EXPECT_LE(t.drafts_per_cycle, 3 + 1e-9) << t.name;
    EXPECT_GE(t.big_tokens_per_cycle, t.tokens_per_cycle - 1e-9) << t.name;
  }
  // Greedy speculative decoding is lossless: the same continuations, the same quality.
  for (size_t d = 0; d < p.domains.size(); ++d)
    EXPECT_DOUBLE_EQ(p.quality(1, static_cast<int>(d)), p.quality(0, static_cast<int>(d)))
        << p.domains[d];
  // Every timing run (4 tiers x 1 and 3 sequences) re-simulated in the note.
  size_t runs = 0;
  for (size_t at = 0; (at = p.note.find(" x", at)) != std::string::npos; ++at) ++runs;
  EXPECT_EQ(runs, 8u) << p.note;
  const Profile q = parse_profile(profile_to_json(p), "mem");
  EXPECT_DOUBLE_EQ(q.models[0].logits_row_s, p.models[0].logits_row_s);
}

}  // namespace
}  // namespace tandem::sim
