// Tiers — the quality tiers a server offers, as configuration.
//
// Contract: a tier is {name, strategy (ar / spec / bild), model(s), parameters};
// tiers are listed best quality first (policies rely on that order). The JSON
// file format:
//   {
//     "models": {"big": "../models/big-q8_0.gguf", "little": "../models/little-aligned-q8_0.gguf"},
//     "tiers": [
//       {"name": "quality", "strategy": "ar", "model": "big"},
//       {"name": "fast", "strategy": "bild", "big": "big", "little": "little",
//        "fallback": 0.6, "rollback": 5, "draft_max": 10},
//       {"name": "economy", "strategy": "ar", "model": "little"}
//     ],
//     "policy": "queue:4,16"          (optional; the default policy)
//   }
// Relative model paths are resolved against the config file's folder. Every
// error names the file and the offending entry. Plain value types.
#pragma once

#include <string>
#include <vector>

#include "tandem/decode/options.h"

namespace tandem::serve {

struct ModelSpec {
  std::string name;  // referred to by tiers
  std::string path;
};

struct TierSpec {
  std::string name;
  decode::Mode strategy = decode::Mode::kAr;
  std::string big;     // ar: the model that decodes; spec/bild: the verifier
  std::string little;  // spec/bild: the drafter; empty for ar
  int draft_max = 4;
  float alpha_fb = 0.6f;
  float alpha_rb = 5.0f;

  // The decode options this tier imposes (mode and its parameters).
  void apply(decode::DecodeOptions& o) const;
  std::string describe() const;  // e.g. "bild(big, little, fb 0.6, rb 5, 10 steps)"
};

struct ServeConfig {
  std::vector<ModelSpec> models;
  std::vector<TierSpec> tiers;
  std::string policy;  // empty: the server's default

  int model_index(const std::string& name) const;  // -1 if absent
  int tier_index(const std::string& name) const;   // -1 if absent
};

ServeConfig load_serve_config(const std::string& path);
// Parses the JSON text (for tests); `base_dir` resolves relative model paths.
ServeConfig parse_serve_config(const std::string& json_text, const std::string& origin,
                               const std::string& base_dir);

// The tiers of a big model alone ("big": ar), or of a big/little pair
// ("big": ar, "spec", "bild": BiLD defaults, "little": ar).
ServeConfig default_serve_config(const std::string& big_path, const std::string& little_path);

}  // namespace tandem::serve
