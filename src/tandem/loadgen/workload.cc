#include "tandem/loadgen/workload.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tandem/base/error.h"

namespace tandem::loadgen {

namespace {

int64_t parse_int(std::string_view s, std::string_view what, std::string_view whole) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || v < 0)
    fail("{}: '{}' is not a non-negative integer or range LO-HI", what, whole);
  return v;
}

}  // namespace

IntRange IntRange::parse(std::string_view text, std::string_view what) {
  const size_t dash = text.find('-');
  IntRange r;
  if (dash == std::string_view::npos) {
    r.lo = r.hi = parse_int(text, what, text);
  } else {
    r.lo = parse_int(text.substr(0, dash), what, text);
    r.hi = parse_int(text.substr(dash + 1), what, text);
    if (r.hi < r.lo) fail("{}: range '{}' has its high end below its low end", what, text);
  }
  return r;
}

int64_t IntRange::draw(Rng& rng) const {
  if (hi <= lo) return lo;
  return lo + static_cast<int64_t>(rng.below(static_cast<uint64_t>(hi - lo + 1)));
}

std::string IntRange::str() const {
  return lo == hi ? std::to_string(lo) : fmt::format("{}-{}", lo, hi);
}

PromptSet PromptSet::load(const std::string& dir, const std::vector<std::string>& domains) {
  namespace fs = std::filesystem;
  std::vector<std::string> names = domains;
  if (names.empty()) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.path().extension() == ".jsonl") names.push_back(e.path().stem().string());
    if (ec) fail("{}: cannot list prompt directory: {}", dir, ec.message());
    std::sort(names.begin(), names.end());
    if (names.empty()) fail("{}: no <domain>.jsonl prompt files", dir);
  }
  PromptSet set;
  for (const auto& d : names) {
    const fs::path path = fs::path(dir) / (d + ".jsonl");
    std::ifstream in(path);
    if (!in) fail("{}: cannot open prompts for domain '{}'", path.string(), d);
    std::string line;
    for (int lineno = 1; std::getline(in, line); ++lineno) {
      if (line.empty()) continue;
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j.contains("prompt") || !j["prompt"].is_string())
        fail("{}:{}: expected a JSON object with a string \"prompt\"", path.string(), lineno);
      set.add(d, j["prompt"].get<std::string>());
    }
    if (set.by_domain_[d].empty()) fail("{}: no prompts", path.string());
  }
  return set;
}

void PromptSet::add(const std::string& domain, std::string prompt) {
  auto& v = by_domain_[domain];
  if (std::find(order_.begin(), order_.end(), domain) == order_.end()) order_.push_back(domain);
  v.push_back(std::move(prompt));
}

const std::vector<std::string>& PromptSet::prompts(const std::string& domain) const {
  auto it = by_domain_.find(domain);
  if (it == by_domain_.end())
    fail("no prompts for domain '{}' (have: {})", domain, fmt::join(order_, ", "));
  return it->second;
}

std::vector<RequestSpec> build_workload(const std::vector<double>& times, const PromptSet& prompts,
                                        const WorkloadOptions& opt) {
  if (prompts.empty()) fail("workload: no prompts to draw from");
  Rng rng(opt.seed, /*stream=*/2);
  std::vector<RequestSpec> out;
  out.reserve(times.size());
  for (size_t i = 0; i < times.size(); ++i) {
    RequestSpec r;
    r.index = static_cast<int64_t>(i);
    r.t = times[i];
    const auto& domains = prompts.domains();
    r.task = domains[rng.below(domains.size())];
    const auto& ps = prompts.prompts(r.task);
    r.prompt = ps[rng.below(ps.size())];
    r.max_tokens = opt.max_tokens.draw(rng);
    r.deadline_ms = opt.deadline_ms.draw(rng);
    r.tier = opt.tier;
    r.seed = rng.next() >> 1;  // keep it representable as a signed 64-bit JSON number
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<RequestSpec> generate_workload(const ArrivalProcess& process, double duration,
                                           const PromptSet& prompts, const WorkloadOptions& opt) {
  Rng rng(opt.seed, /*stream=*/1);
  return build_workload(process.generate(duration, rng), prompts, opt);
}

std::vector<RequestSpec> load_trace(const std::string& path, const PromptSet& prompts,
                                    const WorkloadOptions& opt, double max_t) {
  std::ifstream in(path);
  if (!in) fail("{}: cannot open trace", path);
  Rng rng(opt.seed, /*stream=*/3);
  std::vector<RequestSpec> out;
  std::string line;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    const std::string where = fmt::format("{}:{}", path, lineno);
    if (j.is_discarded() || !j.is_object()) fail("{}: not a JSON object", where);
    auto num = [&](const char* key) -> const nlohmann::json* {
      if (!j.contains(key)) return nullptr;
      if (!j[key].is_number() || j[key].get<double>() < 0)
        fail("{}: \"{}\" must be a non-negative number", where, key);
      return &j[key];
    };
    auto str = [&](const char* key) -> std::string {
      if (!j.contains(key)) return {};
      if (!j[key].is_string()) fail("{}: \"{}\" must be a string", where, key);
      return j[key].get<std::string>();
    };
    RequestSpec r;
    const auto* t = num("t");
    if (!t) fail("{}: missing \"t\" (arrival time in seconds from the start)", where);
    r.t = t->get<double>();
    const std::string domain = str("domain");
    r.prompt = str("prompt");
    r.task = str("task");
    if (j.contains("prompt")) {
      if (r.task.empty()) r.task = domain;
    } else if (!domain.empty()) {
      if (prompts.empty()) fail("{}: \"domain\" given but no prompt set loaded", where);
      const auto& ps = prompts.prompts(domain);
      r.prompt = ps[rng.below(ps.size())];
      if (r.task.empty()) r.task = domain;
    } else {
      fail("{}: needs \"prompt\" or \"domain\"", where);
    }
    const auto* mt = num("max_tokens");
    r.max_tokens = mt ? mt->get<int64_t>() : opt.max_tokens.draw(rng);
    const auto* dl = num("deadline_ms");
    r.deadline_ms = dl ? dl->get<int64_t>() : opt.deadline_ms.draw(rng);
    r.tier = j.contains("tier") ? str("tier") : opt.tier;
    const auto* sd = num("seed");
    r.seed = sd ? sd->get<uint64_t>() : rng.next() >> 1;
    if (r.t < max_t) out.push_back(std::move(r));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const RequestSpec& a, const RequestSpec& b) { return a.t < b.t; });
  for (size_t i = 0; i < out.size(); ++i) out[i].index = static_cast<int64_t>(i);
  return out;
}

void write_trace(const std::string& path, const std::vector<RequestSpec>& requests) {
  std::ofstream out(path);
  if (!out) fail("{}: cannot write trace", path);
  for (const auto& r : requests) {
    nlohmann::json j = {
        {"t", r.t}, {"prompt", r.prompt}, {"max_tokens", r.max_tokens}, {"seed", r.seed}};
    if (!r.task.empty()) j["task"] = r.task;
    if (r.deadline_ms > 0) j["deadline_ms"] = r.deadline_ms;
    if (!r.tier.empty()) j["tier"] = r.tier;
    out << j.dump() << '\n';
  }
  if (!out) fail("{}: write failed", path);
}

}  // namespace tandem::loadgen
