#include "tandem/decode/driver.h"

#include "tandem/base/error.h"
#include "tandem/base/timer.h"

namespace tandem::decode {

Driver::Driver(Model& big, KvCache& big_cache, Model* little, KvCache* little_cache,
               ThreadPool& pool)
    : models_{&big, little}, caches_{&big_cache, little_cache}, pool_(pool) {
  if (little && little->config().n_vocab != big.config().n_vocab)
    fail("the little model's vocabulary has {} tokens but the big model's {}; they must share one",
         little->config().n_vocab, big.config().n_vocab);
  if ((little == nullptr) != (little_cache == nullptr))
    fail("a little model needs a little cache and vice versa");
}

bool Driver::step(Strategy& s) {
  std::optional<ForwardRequest> req = s.next_request();
  if (!req) return false;
  const int i = index(req->model);
  if (!models_[i]) fail("the {} strategy needs a little model (-d)", s.name());
  KvCache& cache = *caches_[i];
  cache.truncate(req->input.seq, req->keep);
  ForwardOptions fo;
  fo.logits = req->logits;
  Timer t;
  models_[i]->forward(std::span<const SequenceInput>(&req->input, 1), cache, fo, out_, pool_);
  Phase& ph = phase_[req->prefill ? 1 : 0];
  ph.seconds[i] += t.seconds();
  ++ph.calls[i];
  if (!req->prefill) ++sizes_[i][static_cast<int64_t>(req->input.tokens.size())];
  s.on_result(out_, 0);
  return true;
}

void Driver::reset_timing() {
  phase_[0] = phase_[1] = Phase{};
  sizes_[0].clear();
  sizes_[1].clear();
}

void Driver::run(Strategy& s, const std::function<void(std::span<const int32_t>)>& on_tokens) {
  while (step(s)) {
    if (on_tokens) {
      const std::vector<int32_t> t = s.take_new_tokens();
      if (!t.empty()) on_tokens(t);
    }
  }
  if (on_tokens) {
    const std::vector<int32_t> t = s.take_new_tokens();
    if (!t.empty()) on_tokens(t);
  }
}

}  // namespace tandem::decode
