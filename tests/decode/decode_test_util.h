// Helpers for the decode tests: the demo models and held-out prompts, small
// synthetic big/little pairs sharing a vocabulary, and running a strategy to
// the end. Not thread-safe (cached models are shared by the tests of a process).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sanitizer.h"
#include "tandem/base/thread_pool.h"
#include "tandem/decode/driver.h"
#include "tandem/decode/strategy.h"
#include "tandem/model/model.h"

namespace tandem::testing {

std::string source_path(const std::string& rel);
ThreadPool& test_pool();

// The first `n` prompts of bench/prompts/<domain>.jsonl.
std::vector<std::string> held_out_prompts(const std::string& domain, int n);

// A pair of tiny random models (vocab `n_vocab`) that disagree often.
struct Pair {
  std::unique_ptr<Model> big, little;
};
Pair& tiny_pair();

// Runs `options` over `prompt` with fresh caches; returns the strategy (done).
std::unique_ptr<decode::Strategy> run_fresh(Model& big, Model* little,
                                            const std::vector<int32_t>& prompt,
                                            const decode::DecodeOptions& options);

}  // namespace tandem::testing
