// Profiler — measures a Profile (sim/profile.h) for the tiers of a serve
// configuration on the real Engine.
//  * Timing, per tier: b concurrent requests of that tier (b = 1 and b = batch)
//    with max_tokens = 1 and = timing_tokens; the iteration time at b is
//    (T(b, N) - T(b, 1)) / (tokens generated - 1), which cancels the prefill;
//    step_base_s = iteration(1), step_per_seq_s = slope to iteration(batch);
//    prefill_token_s = (T(1, 1) - step_base_s) / prompt tokens.
//  * Quality, per tier and domain: greedy continuations of the first
//    `prompts_per_domain` prompts of bench/prompts/<domain>.jsonl, max_tokens
//    tokens, scored by ROUGE-L F1 against the line's "continuation".
// Slow (it runs the models); `progress` gets one line per measurement.
// Not thread-safe; creates and stops its own Engine.
#pragma once

#include <functional>
#include <string>

#include "tandem/serve/engine.h"
#include "tandem/sim/profile.h"

namespace tandem::sim {

struct ProfilerOptions {
  std::string prompts_dir = "bench/prompts";
  int prompts_per_domain = 3;
  int64_t quality_tokens = 48;
  int64_t timing_tokens = 24;
  int batch = 4;
  int repeats = 1;  // timing runs per point; the minimum is kept
  serve::EngineOptions engine;
};

Profile measure_profile(const serve::ServeConfig& config, const ProfilerOptions& options,
                        const std::function<void(const std::string&)>& progress = {});

}  // namespace tandem::sim
