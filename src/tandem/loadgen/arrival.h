// Arrival processes for open-loop load: when requests arrive, as a function of
// a seed. Shared by `tandem loadgen` and the serving simulator, so both see the
// same schedules for the same spec and seed.
//
// Spec grammar (parse_arrival):
//
//   spec   := name [ ":" param { "," param } ]
//   param  := key "=" value
//   value  := number [ unit ]          rates are requests/second; durations are
//           | word                     seconds unless a unit is given:
//   unit   := "ms" | "s" | "m" | "h"   (only allowed on duration keys)
//
//   poisson:rate=R                      Poisson, R req/s.
//   constant:rate=R                     evenly spaced, one every 1/R s, first at 0.
//   bursty:on=R1,off=R0,on_s=D1,off_s=D0[,dist=exp|fixed][,start=on|off]
//                                       on/off modulated Poisson: R1 req/s during
//                                       "on" phases, R0 (default 0) during "off";
//                                       phase lengths have means D1 and D0 seconds,
//                                       exponentially distributed (default) or fixed.
//                                       Starts in the "on" phase unless start=off.
//                                       Alias: onoff.
//   step:before=R0,after=R1,at=T        Poisson at R0 until T seconds, R1 after.
//   diurnal:min=R0,max=R1,period=P[,phase=S]
//                                       non-homogeneous Poisson with
//                                       rate(t) = R0 + (R1-R0) * (1 - cos(2*pi*(t+S)/P)) / 2
//                                       (starts at the minimum; peak at P/2), drawn
//                                       by thinning a Poisson process at R1.
//
// Examples: "poisson:rate=4", "bursty:on=20,off=1,on_s=5,off_s=10",
// "step:before=2,after=8,at=30s", "diurnal:min=1,max=10,period=10m".
// Unknown names or keys, missing required keys, and negative or non-finite
// values are errors (tandem::Error) whose message lists what is accepted.
//
// Determinism: generate() draws only from the Rng it is given; Rng is
// xoshiro256** seeded through splitmix64 with our own uniform and exponential
// transforms (no std:: distributions), so the same spec and seed give the
// same arrival times on every platform.
//
// Thread safety: ArrivalProcess objects are immutable after construction and
// may be shared between threads; an Rng must not be shared.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/base/random.h"

namespace tandem::loadgen {

// Small, fast, portable PRNG (xoshiro256**). Same seed and stream → same sequence.
class Rng : public Xoshiro256 {
 public:
  explicit Rng(uint64_t seed, uint64_t stream = 0)
      : Xoshiro256(seed ^ (stream * 0xD1B54A32D192ED03ull)) {}
  double exponential(double rate);  // mean 1/rate; rate > 0
  uint64_t below(uint64_t n);       // uniform integer in [0, n); n > 0
};

class ArrivalProcess {
 public:
  virtual ~ArrivalProcess() = default;
  // Sorted arrival times in [0, duration) seconds.
  virtual std::vector<double> generate(double duration, Rng& rng) const = 0;
  // Expected rate (req/s) at time t. For bursty, whose phases are random, the
  // long-run mean rate.
  virtual double rate_at(double t) const = 0;
  // Expected number of arrivals in [0, duration).
  virtual double expected_count(double duration) const = 0;
  // Canonical spec string (parses back to the same process).
  virtual std::string spec() const = 0;
};

std::unique_ptr<ArrivalProcess> parse_arrival(std::string_view spec);

// Parses a duration such as "90", "90s", "1500ms", "10m", "2h" into seconds.
double parse_duration(std::string_view text, std::string_view what);

}  // namespace tandem::loadgen
