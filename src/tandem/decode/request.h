// ForwardRequest — what a decode strategy asks of a model for its next step.
//
// Contract: a strategy never runs a model; it hands out one ForwardRequest at a
// time and whoever executes it (decode::Driver for one sequence, the server's
// scheduler for many, batched into one Model::forward per model) must first
// truncate that model's KV cache for `input.seq` to `keep` tokens, then run
// `input` with `logits`, and feed the ForwardOutput back through
// Strategy::on_result(). `keep` never exceeds the cache's current length.
// `prefill` marks the requests of the prefill phase: every strategy first runs
// the prompt but its last token, prompt[0, n-1), once through each model it
// uses (no logits wanted); the generation phase starts by feeding the last
// prompt token. Executors may time or schedule the two phases apart.
// Plain value types; no shared state.
#pragma once

#include <cstdint>
#include <string_view>

#include "tandem/model/model.h"

namespace tandem::decode {

enum class ModelRole { kBig, kLittle };

inline std::string_view role_name(ModelRole r) {
  return r == ModelRole::kBig ? "big" : "little";
}

struct ForwardRequest {
  ModelRole model = ModelRole::kBig;
  int64_t keep = 0;     // truncate the cache of input.seq to this many tokens first
  SequenceInput input;  // tokens to append from slot `keep` on
  LogitsMode logits = LogitsMode::kLast;
  bool prefill = false;  // part of the prefill phase (see above)
};

}  // namespace tandem::decode
