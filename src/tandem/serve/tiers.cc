#include "tandem/serve/tiers.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tandem/base/error.h"

namespace tandem::serve {

using nlohmann::json;

void TierSpec::apply(decode::DecodeOptions& o) const {
  o.mode = strategy;
  o.ar_model = decode::ModelRole::kBig;
  o.draft_max = draft_max;
  o.alpha_fb = alpha_fb;
  o.alpha_rb = alpha_rb;
}

std::string TierSpec::describe() const {
  switch (strategy) {
    case decode::Mode::kAr:
      return fmt::format("ar({})", big);
    case decode::Mode::kSpec:
      return fmt::format("spec({}, {}, draft {})", big, little, draft_max);
    case decode::Mode::kBild:
      return fmt::format("bild({}, {}, fb {}, rb {}, {} steps)", big, little, alpha_fb, alpha_rb,
                         draft_max);
  }
  return "?";
}

int ServeConfig::model_index(const std::string& name) const {
  for (size_t i = 0; i < models.size(); ++i)
    if (models[i].name == name) return static_cast<int>(i);
  return -1;
}

int ServeConfig::tier_index(const std::string& name) const {
  for (size_t i = 0; i < tiers.size(); ++i)
    if (tiers[i].name == name) return static_cast<int>(i);
  return -1;
}

namespace {

std::string str_field(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key)) fail("{}: missing \"{}\"", where, key);
  if (!j[key].is_string() || j[key].get<std::string>().empty())
    fail("{}: \"{}\" must be a non-empty string", where, key);
  return j[key].get<std::string>();
}

template <typename T>
T num_field(const json& j, const char* key, T fallback, const std::string& where) {
  if (!j.contains(key)) return fallback;
  if (!j[key].is_number()) fail("{}: \"{}\" must be a number", where, key);
  return j[key].get<T>();
}

}  // namespace

ServeConfig parse_serve_config(const std::string& text, const std::string& origin,
                               const std::string& base_dir) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    fail("{}: not valid JSON: {}", origin, e.what());
  }
  if (!j.is_object()) fail("{}: the top level must be an object", origin);
  ServeConfig c;
  if (!j.contains("models") || !j["models"].is_object() || j["models"].empty())
    fail("{}: \"models\" must be a non-empty object of name -> GGUF path", origin);
  for (const auto& [name, path] : j["models"].items()) {
    if (!path.is_string()) fail("{}: models.{} must be a path string", origin, name);
    std::filesystem::path p = path.get<std::string>();
    if (p.is_relative() && !base_dir.empty()) p = std::filesystem::path(base_dir) / p;
    c.models.push_back({name, p.lexically_normal().string()});
  }
  if (!j.contains("tiers") || !j["tiers"].is_array() || j["tiers"].empty())
    fail("{}: \"tiers\" must be a non-empty array, best quality first", origin);
  for (size_t i = 0; i < j["tiers"].size(); ++i) {
    const json& t = j["tiers"][i];
    const std::string where = fmt::format("{}: tiers[{}]", origin, i);
    if (!t.is_object()) fail("{} must be an object", where);
    TierSpec s;
    s.name = str_field(t, "name", where);
    const std::string w = fmt::format("{} (\"{}\")", where, s.name);
    if (c.tier_index(s.name) >= 0) fail("{}: tier name used twice", w);
    s.strategy = decode::parse_mode(str_field(t, "strategy", w));
    if (s.strategy == decode::Mode::kAr) {
      s.big = str_field(t, "model", w);
    } else {
      s.big = str_field(t, "big", w);
      s.little = str_field(t, "little", w);
    }
    for (const std::string& m : {s.big, s.little})
      if (!m.empty() && c.model_index(m) < 0) fail("{}: unknown model \"{}\"", w, m);
    s.draft_max = num_field<int>(t, "draft_max", s.strategy == decode::Mode::kBild ? 10 : 4, w);
    s.alpha_fb = num_field<float>(t, "fallback", s.alpha_fb, w);
    s.alpha_rb = num_field<float>(t, "rollback", s.alpha_rb, w);
    decode::DecodeOptions probe;
    s.apply(probe);
    try {
      probe.validate();
    } catch (const Error& e) {
      fail("{}: {}", w, e.what());
    }
    c.tiers.push_back(s);
  }
  if (j.contains("policy")) {
    if (!j["policy"].is_string()) fail("{}: \"policy\" must be a string", origin);
    c.policy = j["policy"].get<std::string>();
  }
  return c;
}

ServeConfig load_serve_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("{}: cannot open the tier configuration", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_serve_config(ss.str(), path, std::filesystem::path(path).parent_path().string());
}

ServeConfig default_serve_config(const std::string& big_path, const std::string& little_path) {
  ServeConfig c;
  c.models.push_back({"big", big_path});
  TierSpec big;
  big.name = "big";
  big.big = "big";
  c.tiers.push_back(big);
  if (little_path.empty()) return c;
  c.models.push_back({"little", little_path});
  TierSpec spec;
  spec.name = "spec";
  spec.strategy = decode::Mode::kSpec;
  spec.big = "big", spec.little = "little";
  TierSpec bild = spec;
  bild.name = "bild";
  bild.strategy = decode::Mode::kBild;
  bild.draft_max = 10;
  TierSpec little;
  little.name = "little";
  little.big = "little";
  c.tiers.insert(c.tiers.end(), {spec, bild, little});
  return c;
}

}  // namespace tandem::serve
