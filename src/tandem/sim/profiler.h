// Profiler — measures a version-2 Profile (sim/profile.h) for the tiers of a
// serve configuration: `tandem router profile` and `tandem bench --tiers`.
//  * Model forward costs: each model of the configuration, loaded on its own,
//    runs Model::forward over `forward_points` token counts (spread over up to
//    `slots` sequences, one token each first, each sequence holding a
//    `context_tokens`-token prompt), swept in rounds (`repeats` forwards per
//    point per round, at least `min_rounds` rounds and `min_seconds` in all);
//    a point's cost is the mean of all its forwards, so that a machine shared
//    with other work is charged its sustained speed rather than its best burst,
//    and every point the same mix of the machine's states. Then the cost of a
//    further logits row (`slots` sequences x 4 tokens with every token's logits,
//    as a verification computes them, against last-token logits only).
//  * Quality and decode pattern, per tier: greedy continuations of the first
//    `prompts_per_domain` prompts of bench/prompts/<domain>.jsonl through the
//    real Engine (all at once), max_tokens tokens, scored by ROUGE-L F1 against
//    the line's "continuation"; the strategies' counters give tokens per
//    verification, drafts per verification and big-model tokens per
//    verification.
//  * Engine overhead: per tier, after a warm-up of `batch` requests, 1 and
//    `batch` concurrent requests of `timing_tokens` tokens through the Engine;
//    (wall - time in forwards) per
//    iteration, fitted as overhead_iter_s + overhead_seq_s * sequences per tier
//    (speculative tiers' iterations carry their drafts' bookkeeping) and over
//    all tiers (the profile-wide default); each of
//    these runs is then simulated from the finished profile (a speculative tier
//    with the decode pattern of that run's own prompt) and measured vs
//    simulated time is reported (and written into the profile's note).
// Slow (it runs the models); `progress` gets one line per measurement.
// Not thread-safe; creates and stops its own Engine.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "tandem/serve/engine.h"
#include "tandem/sim/profile.h"

namespace tandem::sim {

struct ProfilerOptions {
  std::string prompts_dir = "bench/prompts";
  int prompts_per_domain = 3;
  int64_t quality_tokens = 48;
  int64_t timing_tokens = 24;
  int batch = 4;
  int repeats = 2;           // forwards per point per round
  int min_rounds = 3;        // rounds over all points at least ...
  double min_seconds = 2.0;  // ... and this long per model in all
  int64_t context_tokens = 64;
  std::vector<int64_t> forward_points = {1, 2, 3, 4, 5, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 256};
  serve::EngineOptions engine;
};

Profile measure_profile(const serve::ServeConfig& config, const ProfilerOptions& options,
                        const std::function<void(const std::string&)>& progress = {});

}  // namespace tandem::sim
