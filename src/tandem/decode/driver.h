// Driver — executes one sequence's strategy against a big and (optionally) a
// little model, one request at a time: truncate the cache to `keep`, forward,
// feed the output back. The server batches many sequences instead; this is the
// single-sequence path used by `tandem run`, benchmarks and tests.
//
// Contract: borrows the models, caches and pool, which must outlive it; both
// models must share n_vocab. Records forward wall time and call counts per
// model and phase (prefill / generation, see request.h), and how many forwards
// of each size (tokens fed) the generation phase ran per model.
// Thread safety: none (a Model runs one forward at a time).
#pragma once

#include <functional>
#include <map>
#include <span>

#include "tandem/base/thread_pool.h"
#include "tandem/decode/strategy.h"
#include "tandem/model/model.h"

namespace tandem::decode {

class Driver {
 public:
  Driver(Model& big, KvCache& big_cache, Model* little, KvCache* little_cache, ThreadPool& pool);

  // Runs one request of `s`; false when s was already done.
  bool step(Strategy& s);
  // Runs `s` to the end, calling on_tokens with every batch of accepted tokens.
  void run(Strategy& s, const std::function<void(std::span<const int32_t>)>& on_tokens = {});

  // Both phases together.
  double seconds(ModelRole m) const { return seconds(m, false) + seconds(m, true); }
  int64_t calls(ModelRole m) const { return calls(m, false) + calls(m, true); }
  // One phase: prefill (true) or generation (false).
  double seconds(ModelRole m, bool prefill) const { return phase_[prefill].seconds[index(m)]; }
  int64_t calls(ModelRole m, bool prefill) const { return phase_[prefill].calls[index(m)]; }
  // Generation phase: tokens fed per forward -> number of such forwards.
  const std::map<int64_t, int64_t>& call_sizes(ModelRole m) const { return sizes_[index(m)]; }
  void reset_timing();

 private:
  static int index(ModelRole m) { return m == ModelRole::kBig ? 0 : 1; }
  struct Phase {
    double seconds[2] = {0, 0};
    int64_t calls[2] = {0, 0};
  };

  Model* models_[2];
  KvCache* caches_[2];
  ThreadPool& pool_;
  ForwardOutput out_;
  Phase phase_[2];  // [0] generation, [1] prefill
  std::map<int64_t, int64_t> sizes_[2];
};

}  // namespace tandem::decode
