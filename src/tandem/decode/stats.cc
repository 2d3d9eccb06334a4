#include "tandem/decode/stats.h"

#include <fmt/format.h>

namespace tandem::decode {

DecodeStats& DecodeStats::operator+=(const DecodeStats& o) {
  generated += o.generated;
  drafted += o.drafted;
  accepted += o.accepted;
  rounds += o.rounds;
  fallbacks += o.fallbacks;
  rollbacks += o.rollbacks;
  big_calls += o.big_calls;
  little_calls += o.little_calls;
  big_tokens += o.big_tokens;
  little_tokens += o.little_tokens;
  return *this;
}

std::string DecodeStats::summary() const {
  return fmt::format(
      "generated {} | drafted {} accepted {} ({:.1f} %) | rounds {} mean accepted length {:.2f} | "
      "fallbacks {} rollbacks {} | big calls {} ({:.3f}/token) little calls {}",
      generated, drafted, accepted, 100.0 * acceptance_rate(), rounds, mean_accepted_length(),
      fallbacks, rollbacks, big_calls, big_calls_per_token(), little_calls);
}

}  // namespace tandem::decode
