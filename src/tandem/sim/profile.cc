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
  double best = 0;
  for (size_t t = 0; t < tiers.size(); ++t)
    best = std::max(best, quality(static_cast<int>(t), domain));
  return best;
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

void Profile::validate(const std::string& origin) const {
  if (tiers.empty()) fail("{}: the profile has no tiers", origin);
  if (domains.empty()) fail("{}: the profile has no domains", origin);
  if (slots <= 0) fail("{}: slots must be positive, got {}", origin, slots);
  for (const TierProfile& t : tiers) {
    auto bad = [](double v) { return !std::isfinite(v) || v < 0; };
    if (bad(t.step_base_s) || bad(t.step_per_seq_s) || bad(t.prefill_token_s) || t.step_base_s <= 0)
      fail("{}: tier '{}': step_base_s must be > 0 and the other times >= 0", origin, t.name);
    if (t.quality.size() != domains.size())
      fail("{}: tier '{}' has {} quality values, expected one per domain ({})", origin, t.name,
           t.quality.size(), domains.size());
    for (double q : t.quality)
      if (bad(q)) fail("{}: tier '{}': quality values must be finite and >= 0", origin, t.name);
  }
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
  if (j.value("version", 0) != 1)
    fail("{}: profile version {} is not supported (expected 1)", origin, j.value("version", 0));
  Profile p;
  try {
    p.domains = j.at("domains").get<std::vector<std::string>>();
    p.slots = j.value("slots", 8);
    p.note = j.value("note", "");
    for (const auto& jt : j.at("tiers")) {
      TierProfile t;
      t.name = jt.at("name").get<std::string>();
      t.step_base_s = jt.at("step_base_s").get<double>();
      t.step_per_seq_s = jt.at("step_per_seq_s").get<double>();
      t.prefill_token_s = jt.at("prefill_token_s").get<double>();
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
  j["version"] = 1;
  j["domains"] = p.domains;
  j["slots"] = p.slots;
  j["note"] = p.note;
  j["tiers"] = nlohmann::ordered_json::array();
  for (const TierProfile& t : p.tiers) {
    nlohmann::ordered_json jt;
    jt["name"] = t.name;
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
