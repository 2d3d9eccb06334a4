// Arrival processes and workloads: spec parsing, seeded determinism, and
// empirical rates against the processes' stated means within statistical
// tolerances (several standard deviations, so a correct generator fails with
// negligible probability while a wrong rate, shape or spacing fails surely).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "tandem/base/error.h"
#include "tandem/loadgen/arrival.h"
#include "tandem/loadgen/workload.h"

namespace tandem::loadgen {
namespace {

std::vector<double> arrivals(const std::string& spec, double duration, uint64_t seed = 7) {
  Rng rng(seed);
  return parse_arrival(spec)->generate(duration, rng);
}

int64_t count_in(const std::vector<double>& t, double a, double b) {
  return std::count_if(t.begin(), t.end(), [&](double x) { return x >= a && x < b; });
}

// |observed - expected| within k standard deviations of a Poisson count.
void expect_poisson_count(int64_t observed, double expected, double k = 4.5) {
  EXPECT_NEAR(static_cast<double>(observed), expected, k * std::sqrt(expected) + 1)
      << "expected about " << expected;
}

double interarrival_cv(const std::vector<double>& t) {
  std::vector<double> gaps;
  for (size_t i = 1; i < t.size(); ++i) gaps.push_back(t[i] - t[i - 1]);
  const double mean = std::accumulate(gaps.begin(), gaps.end(), 0.0) / gaps.size();
  double var = 0;
  for (double g : gaps) var += (g - mean) * (g - mean);
  var /= gaps.size() - 1;
  return std::sqrt(var) / mean;
}

TEST(ArrivalSpec, ParsesEveryProcessAndRoundTrips) {
  for (const char* s :
       {"poisson:rate=4", "constant:rate=2.5", "bursty:on=20,off=1,on_s=5,off_s=10",
        "onoff:on=3,on_s=1s,off_s=500ms,dist=fixed,start=off", "step:before=2,after=8,at=30s",
        "diurnal:min=1,max=10,period=10m", "diurnal:min=0,max=5,period=60,phase=15"}) {
    auto p = parse_arrival(s);
    auto again = parse_arrival(p->spec());
    EXPECT_EQ(again->spec(), p->spec()) << s;
    Rng a(3), b(3);
    EXPECT_EQ(p->generate(100, a), again->generate(100, b)) << s;
  }
  EXPECT_DOUBLE_EQ(parse_arrival("step:before=1,after=2,at=2m")->rate_at(119), 1);
  EXPECT_DOUBLE_EQ(parse_arrival("step:before=1,after=2,at=2m")->rate_at(120), 2);
  EXPECT_DOUBLE_EQ(parse_duration("1500ms", "x"), 1.5);
  EXPECT_DOUBLE_EQ(parse_duration("2h", "x"), 7200);
}

TEST(ArrivalSpec, RejectsBadSpecsWithUsefulMessages) {
  auto message = [](const char* s) {
    try {
      parse_arrival(s);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  EXPECT_NE(message("poisson").find("needs rate="), std::string::npos) << message("poisson");
  EXPECT_NE(message("poisson:rate=4,burst=2").find("unknown parameter 'burst'"), std::string::npos);
  EXPECT_NE(message("gaussian:rate=4").find("unknown process"), std::string::npos);
  EXPECT_NE(message("poisson:rate=-1").find("not a rate"), std::string::npos);
  EXPECT_NE(message("poisson:rate=4m").find("not a rate"), std::string::npos);
  EXPECT_NE(message("poisson:rate").find("not key=value"), std::string::npos);
  EXPECT_NE(message("poisson:rate=1,rate=2").find("twice"), std::string::npos);
  EXPECT_NE(message("bursty:on=1,on_s=1,off_s=1,dist=normal").find("not one of"),
            std::string::npos);
  EXPECT_NE(message("diurnal:min=5,max=1,period=10").find("below min"), std::string::npos);
  EXPECT_NE(message("step:before=1,after=2,at=soon").find("not a duration"), std::string::npos);
}

TEST(Arrival, SameSeedSameScheduleDifferentSeedDifferent) {
  for (const char* s : {"poisson:rate=10", "bursty:on=20,off=1,on_s=5,off_s=10",
                        "step:before=2,after=8,at=30", "diurnal:min=1,max=10,period=60"}) {
    const auto a = arrivals(s, 120, 42), b = arrivals(s, 120, 42), c = arrivals(s, 120, 43);
    EXPECT_EQ(a, b) << s;
    EXPECT_NE(a, c) << s;
    EXPECT_TRUE(std::is_sorted(a.begin(), a.end())) << s;
    ASSERT_FALSE(a.empty());
    EXPECT_GE(a.front(), 0);
    EXPECT_LT(a.back(), 120);
  }
}

TEST(Arrival, PoissonRateAndUnitCoefficientOfVariation) {
  const auto t = arrivals("poisson:rate=50", 800);  // 40000 expected
  expect_poisson_count(static_cast<int64_t>(t.size()), 40000);
  // Exponential gaps: CV = 1. The CV estimate's sd is ~ 1/sqrt(n) ~ 0.005.
  EXPECT_NEAR(interarrival_cv(t), 1.0, 0.03);
  // Uniform over time: each tenth holds a tenth.
  for (int i = 0; i < 10; ++i) expect_poisson_count(count_in(t, 80.0 * i, 80.0 * (i + 1)), 4000);
}

TEST(Arrival, ConstantIsEvenlySpaced) {
  const auto t = arrivals("constant:rate=4", 10);
  ASSERT_EQ(t.size(), 40u);
  for (size_t i = 0; i < t.size(); ++i) EXPECT_NEAR(t[i], i * 0.25, 1e-12);
}

TEST(Arrival, StepRatesBeforeAndAfter) {
  const auto t = arrivals("step:before=5,after=40,at=200", 400);
  expect_poisson_count(count_in(t, 0, 200), 1000);
  expect_poisson_count(count_in(t, 200, 400), 8000);
  EXPECT_NEAR(parse_arrival("step:before=5,after=40,at=200")->expected_count(400), 9000, 1e-9);
}

TEST(Arrival, DiurnalFollowsTheSinusoid) {
  auto p = parse_arrival("diurnal:min=2,max=42,period=100");
  Rng rng(11);
  const auto t = p->generate(2000, rng);  // 20 periods, 44000 expected
  expect_poisson_count(static_cast<int64_t>(t.size()), p->expected_count(2000));
  // Fold into phase quarters: rate integrates to 22*25 -/+ 20*100/(2*pi) per period.
  std::vector<int64_t> quarter(4);
  for (double x : t) quarter[static_cast<int>(std::fmod(x, 100.0) / 25)]++;
  const double low = 20 * (22 * 25 - 20 * 100 / (2 * M_PI));   // first and last quarter
  const double high = 20 * (22 * 25 + 20 * 100 / (2 * M_PI));  // middle quarters
  expect_poisson_count(quarter[0], low);
  expect_poisson_count(quarter[1], high);
  expect_poisson_count(quarter[2], high);
  expect_poisson_count(quarter[3], low);
  EXPECT_NEAR(p->rate_at(0), 2, 1e-12);
  EXPECT_NEAR(p->rate_at(50), 42, 1e-12);
}

TEST(Arrival, BurstyFixedPhasesAreExact) {
  // 5 s at 30 req/s, 5 s at 0: every off window is empty, every on window ~150.
  const auto t = arrivals("bursty:on=30,off=0,on_s=5,off_s=5,dist=fixed", 400);
  int64_t on = 0;
  for (int k = 0; k < 40; ++k) {
    EXPECT_EQ(count_in(t, 10.0 * k + 5, 10.0 * k + 10), 0) << "off window " << k;
    on += count_in(t, 10.0 * k, 10.0 * k + 5);
  }
  expect_poisson_count(on, 40 * 150);
}

TEST(Arrival, BurstyExponentialPhasesMeanRateAndOverdispersion) {
  auto p = parse_arrival("bursty:on=20,off=1,on_s=5,off_s=10");
  EXPECT_NEAR(p->rate_at(0), (20 * 5 + 1 * 10) / 15.0, 1e-12);
  Rng rng(5);
  const auto t = p->generate(30000, rng);  // ~2000 on/off cycles
  // The count's variance is dominated by the random phase lengths: total on
  // time has sd ~ sqrt(2000)*5 s of ~10000 s, i.e. ~2.2 %; allow ~4.5 sd.
  const double expected = p->expected_count(30000);
  EXPECT_NEAR(static_cast<double>(t.size()), expected, 0.10 * expected);
  // On/off modulation makes gaps far more variable than Poisson's CV of 1.
  EXPECT_GT(interarrival_cv(t), 1.5);
}

TEST(Workload, SeededAndDrawnFromThePromptSet) {
  const std::string dir = std::string(TANDEM_SOURCE_DIR) + "/bench/prompts";
  const PromptSet prompts = PromptSet::load(dir, {"bible", "pydoc"});
  ASSERT_EQ(prompts.domains().size(), 2u);
  WorkloadOptions opt;
  opt.seed = 9;
  opt.max_tokens = IntRange::parse("16-32", "--max-tokens");
  opt.deadline_ms = IntRange::parse("1500", "--deadline-ms");
  opt.tier = "fast";
  auto proc = parse_arrival("poisson:rate=5");
  const auto a = generate_workload(*proc, 60, prompts, opt);
  const auto b = generate_workload(*proc, 60, prompts, opt);
  opt.seed = 10;
  const auto c = generate_workload(*proc, 60, prompts, opt);
  ASSERT_GT(a.size(), 200u);
  ASSERT_EQ(a.size(), b.size());
  int bible = 0;
  std::set<int64_t> lengths;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].t, b[i].t);
    EXPECT_EQ(a[i].prompt, b[i].prompt);
    EXPECT_EQ(a[i].task, b[i].task);
    EXPECT_EQ(a[i].max_tokens, b[i].max_tokens);
    EXPECT_EQ(a[i].seed, b[i].seed);
    EXPECT_EQ(a[i].index, static_cast<int64_t>(i));
    EXPECT_GE(a[i].max_tokens, 16);
    EXPECT_LE(a[i].max_tokens, 32);
    EXPECT_EQ(a[i].deadline_ms, 1500);
    EXPECT_EQ(a[i].tier, "fast");
    const auto& ps = prompts.prompts(a[i].task);
    EXPECT_NE(std::find(ps.begin(), ps.end(), a[i].prompt), ps.end());
    bible += a[i].task == "bible";
    lengths.insert(a[i].max_tokens);
  }
  EXPECT_GT(lengths.size(), 10u);  // really drawn, not fixed
  EXPECT_NEAR(bible, a.size() / 2.0, 4.5 * std::sqrt(a.size() / 4.0));
  bool differs = a.size() != c.size();
  for (size_t i = 0; !differs && i < a.size(); ++i) differs = a[i].prompt != c[i].prompt;
  EXPECT_TRUE(differs);
}

TEST(Workload, TraceRoundTripAndDomainLines) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("loadgen-trace-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "t.jsonl").string();
  {
    std::ofstream f(path);
    f << "# comment\n"
      << R"({"t": 2.5, "prompt": "hello", "max_tokens": 8, "deadline_ms": 900, "tier": "big", "task": "chat"})"
      << "\n\n"
      << R"({"t": 0.5, "domain": "pydoc"})"
      << "\n"
      << R"({"t": 99, "prompt": "late"})"
      << "\n";
  }
  const PromptSet prompts =
      PromptSet::load(std::string(TANDEM_SOURCE_DIR) + "/bench/prompts", {"pydoc"});
  WorkloadOptions opt;
  opt.max_tokens = IntRange{32, 32};
  const auto w = load_trace(path, prompts, opt, 10);
  ASSERT_EQ(w.size(), 2u);  // t=99 dropped by max_t
  EXPECT_EQ(w[0].t, 0.5);
  EXPECT_EQ(w[0].task, "pydoc");
  EXPECT_EQ(w[0].max_tokens, 32);
  EXPECT_FALSE(w[0].prompt.empty());
  EXPECT_EQ(w[1].prompt, "hello");
  EXPECT_EQ(w[1].task, "chat");
  EXPECT_EQ(w[1].tier, "big");
  EXPECT_EQ(w[1].deadline_ms, 900);
  EXPECT_EQ(w[1].index, 1);

  write_trace((dir / "u.jsonl").string(), w);
  const auto again = load_trace((dir / "u.jsonl").string(), PromptSet(), opt, INFINITY);
  ASSERT_EQ(again.size(), w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    EXPECT_EQ(again[i].t, w[i].t);
    EXPECT_EQ(again[i].prompt, w[i].prompt);
    EXPECT_EQ(again[i].task, w[i].task);
    EXPECT_EQ(again[i].seed, w[i].seed);
    EXPECT_EQ(again[i].deadline_ms, w[i].deadline_ms);
  }

  std::ofstream(dir / "bad.jsonl") << R"({"prompt": "no time"})"
                                   << "\n";
  EXPECT_THROW(load_trace((dir / "bad.jsonl").string(), prompts, opt, INFINITY), Error);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tandem::loadgen
