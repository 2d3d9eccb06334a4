// Driver — executes one sequence's strategy against a big and (optionally) a
// little model, one request at a time: truncate the cache to `keep`, forward,
// feed the output back. The server batches many sequences instead; this is the
// single-sequence path used by `tandem run`, benchmarks and tests.
//
// Contract: borrows the models, caches and pool, which must outlive it; both
// models must share n_vocab. Records wall time and call counts per model.
// Thread safety: none (a Model runs one forward at a time).
#pragma once

#include <functional>
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

  double seconds(ModelRole m) const { return seconds_[index(m)]; }
  int64_t calls(ModelRole m) const { return calls_[index(m)]; }
  void reset_timing() { seconds_[0] = seconds_[1] = 0, calls_[0] = calls_[1] = 0; }

 private:
  static int index(ModelRole m) { return m == ModelRole::kBig ? 0 : 1; }

  Model* models_[2];
  KvCache* caches_[2];
  ThreadPool& pool_;
  ForwardOutput out_;
  double seconds_[2] = {0, 0};
  int64_t calls_[2] = {0, 0};
};

}  // namespace tandem::decode
