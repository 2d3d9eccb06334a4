#include "tandem/loadgen/arrival.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <numbers>

#include "tandem/base/error.h"
#include "tandem/base/random.h"

namespace tandem::loadgen {

// ---- Rng --------------------------------------------------------------------

double Rng::exponential(double rate) {
  return -std::log1p(-uniform()) / rate;  // 1 - u in (0, 1]: never log(0)
}

uint64_t Rng::below(uint64_t n) {
  // Lemire's multiply-shift; the bias (< n / 2^64) is irrelevant here.
  return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
}

// ---- spec parsing -----------------------------------------------------------

double parse_duration(std::string_view text, std::string_view what) {
  std::string_view num = text;
  double scale = 1.0;
  if (num.ends_with("ms")) {
    scale = 1e-3;
    num.remove_suffix(2);
  } else if (num.ends_with("s")) {
    num.remove_suffix(1);
  } else if (num.ends_with("m")) {
    scale = 60;
    num.remove_suffix(1);
  } else if (num.ends_with("h")) {
    scale = 3600;
    num.remove_suffix(1);
  }
  double v = 0;
  auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
  if (num.empty() || ec != std::errc() || ptr != num.data() + num.size() || !std::isfinite(v) ||
      v < 0)
    fail(
        "{}: '{}' is not a duration (a non-negative number of seconds, or with a unit: 1500ms, "
        "90s, 10m, 2h)",
        what, text);
  return v * scale;
}

namespace {

// Key/value parameters of one spec, checked against what the process accepts.
class Params {
 public:
  Params(std::string_view spec, std::string name, std::map<std::string, std::string> kv)
      : spec_(spec), name_(std::move(name)), kv_(std::move(kv)) {}

  double rate(const std::string& key, const double* dflt = nullptr) {
    return number(key, dflt, false);
  }
  double duration(const std::string& key, const double* dflt = nullptr) {
    return number(key, dflt, true);
  }
  std::string word(const std::string& key, const std::vector<std::string>& allowed) {
    accepted_.push_back(key);
    auto it = kv_.find(key);
    if (it == kv_.end()) return allowed.front();
    if (std::find(allowed.begin(), allowed.end(), it->second) == allowed.end())
      fail("arrival spec '{}': {}={} is not one of {}", spec_, key, it->second,
           fmt::join(allowed, ", "));
    return it->second;
  }
  // Call after reading every key: rejects the ones the process does not take.
  void finish() const {
    for (const auto& [k, v] : kv_)
      if (std::find(accepted_.begin(), accepted_.end(), k) == accepted_.end())
        fail("arrival spec '{}': unknown parameter '{}' ({} takes {})", spec_, k, name_,
             fmt::join(accepted_, ", "));
  }

 private:
  double number(const std::string& key, const double* dflt, bool is_duration) {
    accepted_.push_back(key);
    auto it = kv_.find(key);
    if (it == kv_.end()) {
      if (dflt) return *dflt;
      fail("arrival spec '{}': {} needs {}=<{}>", spec_, name_, key,
           is_duration ? "seconds" : "requests per second");
    }
    const std::string what = fmt::format("arrival spec '{}': {}", spec_, key);
    if (is_duration) return parse_duration(it->second, what);
    double v = 0;
    const std::string& s = it->second;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(v) || v < 0)
      fail("{}: '{}' is not a rate (a non-negative number of requests per second)", what, s);
    return v;
  }

  std::string spec_, name_;
  std::map<std::string, std::string> kv_;
  std::vector<std::string> accepted_;
};

std::string fmt_num(double v) {
  return fmt::format("{}", v);
}

// Homogeneous Poisson arrivals at `rate` in [t0, t1), appended to out.
void poisson_segment(double rate, double t0, double t1, Rng& rng, std::vector<double>& out) {
  if (rate <= 0) return;
  for (double t = t0 + rng.exponential(rate); t < t1; t += rng.exponential(rate)) out.push_back(t);
}

class Poisson final : public ArrivalProcess {
 public:
  explicit Poisson(double rate) : rate_(rate) {}
  std::vector<double> generate(double duration, Rng& rng) const override {
    std::vector<double> out;
    out.reserve(static_cast<size_t>(rate_ * duration * 1.1) + 16);
    poisson_segment(rate_, 0, duration, rng, out);
    return out;
  }
  double rate_at(double) const override { return rate_; }
  double expected_count(double d) const override { return rate_ * d; }
  std::string spec() const override { return "poisson:rate=" + fmt_num(rate_); }

 private:
  double rate_;
};

class Constant final : public ArrivalProcess {
 public:
  explicit Constant(double rate) : rate_(rate) {}
  std::vector<double> generate(double duration, Rng&) const override {
    std::vector<double> out;
    if (rate_ <= 0) return out;
    for (int64_t i = 0;; ++i) {
      const double t = static_cast<double>(i) / rate_;
      if (t >= duration) break;
      out.push_back(t);
    }
    return out;
  }
  double rate_at(double) const override { return rate_; }
  double expected_count(double d) const override { return rate_ > 0 ? std::ceil(rate_ * d) : 0; }
  std::string spec() const override { return "constant:rate=" + fmt_num(rate_); }

 private:
  double rate_;
};

class Bursty final : public ArrivalProcess {
 public:
  Bursty(double on, double off, double on_s, double off_s, bool fixed, bool start_on)
      : on_(on), off_(off), on_s_(on_s), off_s_(off_s), fixed_(fixed), start_on_(start_on) {}
  std::vector<double> generate(double duration, Rng& rng) const override {
    std::vector<double> out;
    bool on = start_on_;
    for (double t = 0; t < duration; on = !on) {
      const double mean = on ? on_s_ : off_s_;
      const double len = fixed_ ? mean : (mean > 0 ? rng.exponential(1.0 / mean) : 0.0);
      const double end = std::min(duration, t + len);
      poisson_segment(on ? on_ : off_, t, end, rng, out);
      t = end;
    }
    return out;
  }
  double rate_at(double) const override { return (on_ * on_s_ + off_ * off_s_) / (on_s_ + off_s_); }
  double expected_count(double d) const override { return rate_at(0) * d; }
  std::string spec() const override {
    return fmt::format("bursty:on={},off={},on_s={},off_s={},dist={},start={}", on_, off_, on_s_,
                       off_s_, fixed_ ? "fixed" : "exp", start_on_ ? "on" : "off");
  }

 private:
  double on_, off_, on_s_, off_s_;
  bool fixed_, start_on_;
};

class Step final : public ArrivalProcess {
 public:
  Step(double before, double after, double at) : before_(before), after_(after), at_(at) {}
  std::vector<double> generate(double duration, Rng& rng) const override {
    std::vector<double> out;
    poisson_segment(before_, 0, std::min(at_, duration), rng, out);
    if (at_ < duration) poisson_segment(after_, at_, duration, rng, out);
    return out;
  }
  double rate_at(double t) const override { return t < at_ ? before_ : after_; }
  double expected_count(double d) const override {
    return before_ * std::min(d, at_) + after_ * std::max(0.0, d - at_);
  }
  std::string spec() const override {
    return fmt::format("step:before={},after={},at={}", before_, after_, at_);
  }

 private:
  double before_, after_, at_;
};

class Diurnal final : public ArrivalProcess {
 public:
  Diurnal(double min, double max, double period, double phase)
      : min_(min), max_(max), period_(period), phase_(phase) {}
  std::vector<double> generate(double duration, Rng& rng) const override {
    // Thinning (Lewis & Shedler): candidates at the peak rate, each kept with
    // probability rate(t) / max. One uniform per candidate, always drawn, so
    // the schedule depends only on the seed.
    std::vector<double> out;
    if (max_ <= 0) return out;
    for (double t = rng.exponential(max_); t < duration; t += rng.exponential(max_))
      if (rng.uniform() * max_ < rate_at(t)) out.push_back(t);
    return out;
  }
  double rate_at(double t) const override {
    const double w = 2 * std::numbers::pi / period_;
    return min_ + (max_ - min_) * (1 - std::cos(w * (t + phase_))) / 2;
  }
  double expected_count(double d) const override {
    // Integral of rate over [0, d).
    const double w = 2 * std::numbers::pi / period_;
    const double mid = (min_ + max_) / 2, amp = (max_ - min_) / 2;
    return mid * d - amp * (std::sin(w * (d + phase_)) - std::sin(w * phase_)) / w;
  }
  std::string spec() const override {
    return fmt::format("diurnal:min={},max={},period={},phase={}", min_, max_, period_, phase_);
  }

 private:
  double min_, max_, period_, phase_;
};

}  // namespace

std::unique_ptr<ArrivalProcess> parse_arrival(std::string_view spec) {
  const size_t colon = spec.find(':');
  const std::string name(spec.substr(0, colon));
  std::map<std::string, std::string> kv;
  if (colon != std::string_view::npos) {
    std::string_view rest = spec.substr(colon + 1);
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      const std::string_view item = rest.substr(0, comma);
      const size_t eq = item.find('=');
      if (eq == std::string_view::npos || eq == 0)
        fail("arrival spec '{}': '{}' is not key=value", spec, item);
      const std::string key(item.substr(0, eq));
      if (!kv.emplace(key, std::string(item.substr(eq + 1))).second)
        fail("arrival spec '{}': {} given twice", spec, key);
      if (comma == std::string_view::npos) break;
      rest = rest.substr(comma + 1);
    }
  }
  Params p(spec, name, kv);
  std::unique_ptr<ArrivalProcess> proc;
  static const double kZero = 0;
  if (name == "poisson") {
    proc = std::make_unique<Poisson>(p.rate("rate"));
  } else if (name == "constant") {
    proc = std::make_unique<Constant>(p.rate("rate"));
  } else if (name == "bursty" || name == "onoff") {
    const double on = p.rate("on"), off = p.rate("off", &kZero);
    const double on_s = p.duration("on_s"), off_s = p.duration("off_s");
    const bool fixed = p.word("dist", {"exp", "fixed"}) == "fixed";
    const bool start_on = p.word("start", {"on", "off"}) == "on";
    if (on_s + off_s <= 0) fail("arrival spec '{}': on_s + off_s must be positive", spec);
    proc = std::make_unique<Bursty>(on, off, on_s, off_s, fixed, start_on);
  } else if (name == "step") {
    const double before = p.rate("before"), after = p.rate("after");
    proc = std::make_unique<Step>(before, after, p.duration("at"));
  } else if (name == "diurnal") {
    const double lo = p.rate("min"), hi = p.rate("max");
    const double period = p.duration("period"), phase = p.duration("phase", &kZero);
    if (hi < lo) fail("arrival spec '{}': max ({}) is below min ({})", spec, hi, lo);
    if (period <= 0) fail("arrival spec '{}': period must be positive", spec);
    proc = std::make_unique<Diurnal>(lo, hi, period, phase);
  } else {
    fail(
        "arrival spec '{}': unknown process '{}' (one of poisson, constant, bursty, step, "
        "diurnal; e.g. poisson:rate=4)",
        spec, name);
  }
  p.finish();
  return proc;
}

}  // namespace tandem::loadgen
