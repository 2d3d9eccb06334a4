#include "tandem/sim/profile.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tandem/base/error.h"

namespace tandem::sim {

int Profile::domain_index(const std::string& d) const {
  for (size_t i = 0; i < domains.size(); ++i)
    if (domains[i] == d) return static_cast<int>(i);
  return -1;
}

double Profile::quality(int tier, int domain) const {
  const TierProfile& t = tiers.at(tier);
  if (domain >= 0) return t.quality.at(domain);
  double s = 0;
  for (double q : t.quality) s += q;
  return t.quality.empty() ? 0 : s / static_cast<double>(t.quality.size());
}

double Profile::peak(int domain) const {
  return tiers.empty() ? 0 : quality(0, domain);
}

double Profile::iteration_s(const std::vector<int>& decoding,
                            const std::vector<int64_t>& prefill) const {
  double s = 0;
  for (size_t t = 0; t < tiers.size(); ++t) {
    const int n = t < decoding.size() ? decoding[t] : 0;
    const int64_t p = t < prefill.size() ? prefill[t] : 0;
    if (n == 0 && p == 0) continue;
    s += tiers[t].step_base_s + tiers[t].step_per_seq_s * std::max(0, n - 1) +
         tiers[t].prefill_token_s * static_cast<double>(p);
  }
  return s;
}

double ModelCost::seconds(int64_t tokens) const {
  if (tokens <= 0 || forward.empty()) return 0;
  if (forward.size() == 1)
    return forward[0].second * static_cast<double>(tokens) / static_cast<double>(forward[0].first);
  size_t i = 1;
  while (i + 1 < forward.size() && forward[i].first < tokens) ++i;
  // Between points i-1 and i (or beyond either end, on their slope).
  const auto [x0, y0] = forward[i - 1];
  const auto [x1, y1] = forward[i];
  const double slope = (y1 - y0) / static_cast<double>(x1 - x0);
  return std::max(0.25 * forward[0].second, y0 + slope * static_cast<double>(tokens - x0));
}

namespace {
template <typename T>
T at_or_zero(const std::vector<T>& v, size_t i) {
  return i < v.size() ? v[i] : T{};
}
int draft_steps(const TierProfile& t) {
  return std::max(1, static_cast<int>(std::lround(t.drafts_per_cycle)));
}
}  // namespace

IterationCost Profile::iteration(const IterationLoad& l) const {
  const size_t nt = tiers.size();
  IterationCost c;
  c.tokens.assign(nt, 1.0);
  if (models.empty()) {
    std::vector<int64_t> pre(nt);
    for (size_t t = 0; t < nt; ++t)
      pre[t] = at_or_zero(l.prefill_big, t) + at_or_zero(l.prefill_little, t);
    c.seconds = iteration_s(l.decoding, pre);
    return c;
  }
  const size_t nm = models.size();
  // Draft sub-steps: speculative sequences feed one draft token each to their little model;
  // ar sequences of a model that drafts ride along (one more token each per sub-step).
  int steps = 0;
  for (size_t t = 0; t < nt; ++t)
    if (tiers[t].speculative() && at_or_zero(l.decoding, t) > 0)
      steps = std::max(steps, draft_steps(tiers[t]));
  std::vector<int> rides(nm, 0);  // sub-steps each model ran
  for (int k = 1; k <= steps; ++k) {
    std::vector<int64_t> tok(nm, 0);
    for (size_t t = 0; t < nt; ++t)
      if (tiers[t].speculative() && draft_steps(tiers[t]) >= k)
        tok[tiers[t].little] += at_or_zero(l.decoding, t);
    std::vector<int64_t> riders(nm, 0);
    for (size_t t = 0; t < nt; ++t)
      if (!tiers[t].speculative() && tok[tiers[t].big] > 0)
        riders[tiers[t].big] += at_or_zero(l.decoding, t);
    for (size_t m = 0; m < nm; ++m) {
      if (tok[m] == 0) continue;
      ++rides[m];
      c.seconds += models[m].seconds(tok[m] + riders[m]);
    }
  }
  std::vector<int64_t> main(nm, 0), rows(nm, 0);
  double overhead_iter = 0, overhead_seqs = 0;
  for (size_t t = 0; t < nt; ++t) {
    const TierProfile& tp = tiers[t];
    const int n = at_or_zero(l.decoding, t);
    if (n > 0 || at_or_zero(l.prefill_big, t) > 0 || at_or_zero(l.prefill_little, t) > 0)
      overhead_iter = std::max(overhead_iter, tp.overhead_iter_s);
    overhead_seqs += tp.overhead_seq_s * n;
    if (tp.speculative()) {
      const int64_t verify = n * std::max<int64_t>(1, std::lround(tp.big_tokens_per_cycle));
      main[tp.big] += verify;
      rows[tp.big] += verify - n;  // every fed token's logits, not just the last
      main[tp.little] += at_or_zero(l.prefill_little, t);
      c.tokens[t] = tp.tokens_per_cycle;
    } else {
      main[tp.big] += n;
      c.tokens[t] = 1.0 + rides[tp.big];
    }
    main[tp.big] += at_or_zero(l.prefill_big, t);
  }
  bool work = false;
  for (size_t m = 0; m < nm; ++m) {
    c.seconds += models[m].seconds(main[m]) + models[m].logits_row_s * static_cast<double>(rows[m]);
    work = work || main[m] > 0;
  }
  if (work) c.seconds += overhead_iter + overhead_seqs;
  return c;
}

void Profile::derive_tier_costs() {
  if (models.empty()) return;
  const size_t nt = tiers.size();
  for (size_t t = 0; t < nt; ++t) {
    TierProfile& tp = tiers[t];
    IterationLoad l;
    l.decoding.assign(nt, 0);
    l.decoding[t] = 1;
    const IterationCost one = iteration(l);
    l.decoding[t] = std::max(1, slots);
    const IterationCost full = iteration(l);
    const double per_tok1 = one.seconds / std::max(1e-9, one.tokens[t]);
    const double per_tokn = full.seconds / std::max(1e-9, full.tokens[t]);
    tp.step_base_s = per_tok1;
    tp.step_per_seq_s = slots > 1 ? std::max(0.0, (per_tokn - per_tok1) / (slots - 1)) : 0.0;
    IterationLoad pl;
    const int64_t prompt = 64;
    pl.prefill_big.assign(nt, 0);
    pl.prefill_little.assign(nt, 0);
    pl.prefill_big[t] = prompt;
    if (tp.speculative()) pl.prefill_little[t] = prompt;
    tp.prefill_token_s = iteration(pl).seconds / static_cast<double>(prompt);
  }
}

void Profile::validate(const std::string& origin) const {
  if (tiers.empty()) fail("{}: the profile has no tiers", origin);
  if (domains.empty()) fail("{}: the profile has no domains", origin);
  if (slots <= 0) fail("{}: slots must be positive, got {}", origin, slots);
  for (const TierProfile& t : tiers) {
    auto bad = [](double v) { return !std::isfinite(v) || v < 0; };
    if (models.empty() && (bad(t.step_base_s) || bad(t.step_per_seq_s) || bad(t.prefill_token_s) ||
                           t.step_base_s <= 0))
      fail("{}: tier '{}': step_base_s must be > 0 and the other times >= 0", origin, t.name);
    if (t.quality.size() != domains.size())
      fail("{}: tier '{}' has {} quality values, expected one per domain ({})", origin, t.name,
           t.quality.size(), domains.size());
    for (double q : t.quality)
      if (bad(q)) fail("{}: tier '{}': quality values must be finite and >= 0", origin, t.name);
    if (models.empty()) continue;
    const int nm = static_cast<int>(models.size());
    if (t.big < 0 || t.big >= nm || t.little < -1 || t.little >= nm || t.little == t.big)
      fail("{}: tier '{}': model indices big {} / little {} do not fit the {} models", origin,
           t.name, t.big, t.little, nm);
    if (!(t.tokens_per_cycle > 0) || bad(t.drafts_per_cycle) || !(t.big_tokens_per_cycle > 0))
      fail("{}: tier '{}': tokens_per_cycle and big_tokens_per_cycle must be > 0", origin, t.name);
    if (bad(t.overhead_iter_s) || bad(t.overhead_seq_s))
      fail("{}: tier '{}': engine overheads must be finite and >= 0", origin, t.name);
  }
  for (const ModelCost& m : models) {
    if (m.forward.empty()) fail("{}: model '{}' has no forward timings", origin, m.name);
    for (size_t i = 0; i < m.forward.size(); ++i)
      if (m.forward[i].first <= 0 || !(m.forward[i].second > 0) ||
          (i > 0 && m.forward[i].first <= m.forward[i - 1].first))
        fail(
            "{}: model '{}': forward timings must be [tokens, seconds] with tokens ascending and "
            "seconds > 0",
            origin, m.name);
    if (!(m.logits_row_s >= 0) || !std::isfinite(m.logits_row_s))
      fail("{}: model '{}': logits_row_s must be finite and >= 0", origin, m.name);
  }
  if (overhead_iter_s < 0 || overhead_seq_s < 0 || !std::isfinite(overhead_iter_s) ||
      !std::isfinite(overhead_seq_s))
    fail("{}: engine overheads must be finite and >= 0", origin);
}

Profile parse_profile(const std::string& json_text, const std::string& origin) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text);
  } catch (const std::exception& e) {
    fail("{}: not valid JSON: {}", origin, e.what());
  }
  if (j.value("format", "") != "tandem-profile")
    fail("{}: not a tandem profile (expected \"format\": \"tandem-profile\")", origin);
  const int version = j.value("version", 0);
  if (version != 1 && version != 2)
    fail("{}: profile version {} is not supported (expected 1 or 2)", origin, version);
  Profile p;
  try {
    p.domains = j.at("domains").get<std::vector<std::string>>();
    p.slots = j.value("slots", 8);
    p.note = j.value("note", "");
    if (version == 2) {
      p.overhead_iter_s = j.value("overhead_iter_s", 0.0);
      p.overhead_seq_s = j.value("overhead_seq_s", 0.0);
      for (const auto& jm : j.at("models")) {
        ModelCost m;
        m.name = jm.at("name").get<std::string>();
        for (const auto& pt : jm.at("forward"))
          m.forward.emplace_back(pt.at(0).get<int64_t>(), pt.at(1).get<double>());
        m.logits_row_s = jm.value("logits_row_s", 0.0);
        p.models.push_back(std::move(m));
      }
      if (p.models.empty()) fail("{}: a version 2 profile needs \"models\"", origin);
    }
    for (const auto& jt : j.at("tiers")) {
      TierProfile t;
      t.name = jt.at("name").get<std::string>();
      if (version == 2) {
        t.strategy = jt.at("strategy").get<std::string>();
        t.big = jt.at("big").get<int>();
        t.little = jt.at("little").get<int>();
        t.tokens_per_cycle = jt.at("tokens_per_cycle").get<double>();
        t.drafts_per_cycle = jt.at("drafts_per_cycle").get<double>();
        t.big_tokens_per_cycle = jt.at("big_tokens_per_cycle").get<double>();
        t.overhead_iter_s = jt.value("overhead_iter_s", p.overhead_iter_s);
        t.overhead_seq_s = jt.value("overhead_seq_s", p.overhead_seq_s);
      } else {
        t.step_base_s = jt.at("step_base_s").get<double>();
        t.step_per_seq_s = jt.at("step_per_seq_s").get<double>();
        t.prefill_token_s = jt.at("prefill_token_s").get<double>();
      }
      for (const std::string& d : p.domains) {
        if (!jt.at("quality").contains(d))
          fail("{}: tier '{}' has no quality for domain '{}'", origin, t.name, d);
        t.quality.push_back(jt.at("quality").at(d).get<double>());
      }
      p.tiers.push_back(std::move(t));
    }
  } catch (const nlohmann::json::exception& e) {
    fail("{}: malformed profile: {}", origin, e.what());
  }
  p.validate(origin);
  p.derive_tier_costs();
  return p;
}

Profile load_profile(const std::string& path) {
  std::ifstream f(path);
  if (!f) fail("{}: cannot open the profile", path);
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_profile(ss.str(), path);
}

std::string profile_to_json(const Profile& p) {
  nlohmann::ordered_json j;
  j["format"] = "tandem-profile";
  j["version"] = p.models.empty() ? 1 : 2;
  j["domains"] = p.domains;
  j["slots"] = p.slots;
  j["note"] = p.note;
  if (!p.models.empty()) {
    j["overhead_iter_s"] = p.overhead_iter_s;
    j["overhead_seq_s"] = p.overhead_seq_s;
    j["models"] = nlohmann::ordered_json::array();
    for (const ModelCost& m : p.models) {
      nlohmann::ordered_json jm;
      jm["name"] = m.name;
      jm["forward"] = nlohmann::ordered_json::array();
      for (const auto& [n, sec] : m.forward) jm["forward"].push_back({n, sec});
      jm["logits_row_s"] = m.logits_row_s;
      j["models"].push_back(jm);
    }
  }
  j["tiers"] = nlohmann::ordered_json::array();
  for (const TierProfile& t : p.tiers) {
    nlohmann::ordered_json jt;
    jt["name"] = t.name;
    if (!p.models.empty()) {
      jt["strategy"] = t.strategy;
      jt["big"] = t.big;
      jt["little"] = t.little;
      jt["tokens_per_cycle"] = t.tokens_per_cycle;
      jt["drafts_per_cycle"] = t.drafts_per_cycle;
      jt["big_tokens_per_cycle"] = t.big_tokens_per_cycle;
      jt["overhead_iter_s"] = t.overhead_iter_s;
      jt["overhead_seq_s"] = t.overhead_seq_s;
    }
    jt["step_base_s"] = t.step_base_s;
    jt["step_per_seq_s"] = t.step_per_seq_s;
    jt["prefill_token_s"] = t.prefill_token_s;
    nlohmann::ordered_json q;
    for (size_t d = 0; d < p.domains.size(); ++d) q[p.domains[d]] = t.quality.at(d);
    jt["quality"] = q;
    j["tiers"].push_back(jt);
  }
  return j.dump(2) + "\n";
}

void save_profile(const std::string& path, const Profile& p) {
  std::ofstream f(path);
  if (!f) fail("{}: cannot write the profile", path);
  f << profile_to_json(p);
  if (!f) fail("{}: write failed", path);
}

}  // namespace tandem::sim
