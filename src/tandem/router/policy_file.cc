#include "tandem/router/policy_file.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "tandem/base/error.h"

namespace tandem::router {

void FeatureLayout::encode(const serve::RequestFeatures& f, const serve::LoadState& load,
                           double* out) const {
  size_t k = 0;
  for (const std::string& d : domains) out[k++] = d == f.task ? 1.0 : 0.0;
  const double s = std::max(1, slots);
  for (size_t t = 0; t < tiers.size(); ++t) {
    const serve::TierLoad tl = t < load.tiers.size() ? load.tiers[t] : serve::TierLoad{};
    out[k++] = static_cast<double>(tl.queued) / s;
    out[k++] = static_cast<double>(tl.running) / s;
    out[k++] = static_cast<double>(tl.queued_tokens) / (128 * s);
    out[k++] = static_cast<double>(tl.inflight_tokens) / (128 * s);
  }
  out[k++] = static_cast<double>(load.queued) / s;
  out[k++] = static_cast<double>(load.free_slots) / s;
  out[k++] = std::log1p(std::max(0.0, load.arrival_rate)) / 4;
  const bool dl = std::isfinite(f.deadline_s) && f.deadline_s > 0;
  out[k++] = dl ? 1.0 : 0.0;
  out[k++] = dl ? f.deadline_s / 10 : 0.0;
  out[k++] = static_cast<double>(f.prompt_tokens) / 256;
  out[k++] = static_cast<double>(f.max_tokens) / 256;
  // Estimated latency per tier (see the header).
  const size_t nt = tiers.size();
  int64_t backlog = 0;
  for (size_t u = 0; u < nt && u < load.tiers.size(); ++u)
    backlog += load.tiers[u].inflight_tokens + load.tiers[u].queued_tokens;
  const bool wait = load.free_slots <= load.queued;
  for (size_t t = 0; t < nt; ++t) {
    double est = 0;
    if (costs.size() == nt) {
      double it = 0;
      for (size_t u = 0; u < nt; ++u) {
        const int64_t n = (u < load.tiers.size() ? load.tiers[u].running : 0) + (u == t ? 1 : 0);
        if (n > 0) it += costs[u].base_s + costs[u].per_seq_s * static_cast<double>(n - 1);
      }
      est = (wait ? static_cast<double>(backlog) / s * it : 0.0) +
            static_cast<double>(f.prompt_tokens) * costs[t].prefill_token_s +
            static_cast<double>(f.max_tokens) * it;
    }
    out[k++] = std::min(4.0, est / (dl ? f.deadline_s : 10.0));
  }
}

Vec FeatureLayout::encode(const serve::RequestFeatures& f, const serve::LoadState& load) const {
  Vec x(size());
  encode(f, load, x.data());
  return x;
}

int greedy_action(const Mlp& net, const Vec& x) {
  const Mat q = net.forward(x);
  Eigen::Index best = 0;
  q.col(0).maxCoeff(&best);
  return static_cast<int>(best);
}

LearnedPolicy::LearnedPolicy(FeatureLayout layout, Mlp net, std::string origin)
    : layout_(std::move(layout)), net_(std::move(net)), origin_(std::move(origin)) {}

int LearnedPolicy::choose(const serve::RequestFeatures& request,
                          const serve::LoadState& load) const {
  return layout_.action_to_tier(greedy_action(net_, layout_.encode(request, load)));
}

double LearnedPolicy::default_routing_deadline_s() const {
  if (layout_.deadline_hi_s > 0) return 0.5 * (layout_.deadline_lo_s + layout_.deadline_hi_s);
  if (layout_.costs.empty()) return 0;
  // Older files: what `tandem router train` used (scenarios.cc, ScenarioOptions'
  // defaults): 3-6x the best tier's unloaded latency of a 64-token prompt and a
  // 48-token answer (49 engine steps), middle 4.5x.
  const TierCost& best = layout_.costs.front();
  return 4.5 * (64 * best.prefill_token_s + 49 * best.base_s);
}

namespace {

uint64_t checksum(const Mlp& net) {
  uint64_t h = 0xcbf29ce484222325ULL;
  auto feed = [&](const double* p, Eigen::Index n) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(p);
    for (size_t i = 0; i < static_cast<size_t>(n) * sizeof(double); ++i) {
      h ^= bytes[i];
      h *= 0x100000001b3ULL;
    }
  };
  for (int l = 0; l < 3; ++l) {
    // Row-major order, as stored in the file.
    const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> w = net.w[l];
    feed(w.data(), w.size());
    feed(net.b[l].data(), net.b[l].size());
  }
  return h;
}

}  // namespace

void save_policy(const std::string& path, const FeatureLayout& layout, const Mlp& net,
                 const nlohmann::json& meta) {
  nlohmann::ordered_json j;
  j["format"] = "tandem-router-policy";
  j["version"] = 1;
  nlohmann::ordered_json costs = nlohmann::ordered_json::array();
  for (const TierCost& c : layout.costs)
    costs.push_back({c.base_s, c.per_seq_s, c.prefill_token_s});
  j["features"] = {{"layout", "v2"},        {"domains", layout.domains}, {"tiers", layout.tiers},
                   {"slots", layout.slots}, {"reject", layout.reject},   {"costs", costs}};
  if (layout.deadline_hi_s > 0)
    j["features"]["deadline_s"] = {layout.deadline_lo_s, layout.deadline_hi_s};
  const auto sz = net.sizes();
  nlohmann::ordered_json jn;
  jn["sizes"] = {sz[0], sz[1], sz[2], sz[3]};
  jn["w"] = nlohmann::ordered_json::array();
  jn["b"] = nlohmann::ordered_json::array();
  for (int l = 0; l < 3; ++l) {
    std::vector<double> w;
    for (Eigen::Index r = 0; r < net.w[l].rows(); ++r)
      for (Eigen::Index c = 0; c < net.w[l].cols(); ++c) w.push_back(net.w[l](r, c));
    jn["w"].push_back(w);
    jn["b"].push_back(std::vector<double>(net.b[l].data(), net.b[l].data() + net.b[l].size()));
  }
  j["net"] = jn;
  j["checksum"] = fmt::format("{:016x}", checksum(net));
  j["meta"] = meta;
  std::ofstream f(path);
  if (!f) fail("{}: cannot write the policy", path);
  f << j.dump(1) << "\n";
  if (!f) fail("{}: write failed", path);
}

std::unique_ptr<LearnedPolicy> parse_policy(const std::string& text, const std::string& origin,
                                            const std::vector<std::string>& tier_names) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    fail("{}: not a router policy: the JSON does not parse ({})", origin, e.what());
  }
  if (!j.is_object() || j.value("format", "") != "tandem-router-policy")
    fail("{}: not a router policy (expected \"format\": \"tandem-router-policy\")", origin);
  if (j.value("version", 0) != 1)
    fail("{}: router policy version {} is not supported (this build reads version 1)", origin,
         j.value("version", 0));
  FeatureLayout layout;
  Mlp net;
  std::string sum;
  try {
    const auto& jf = j.at("features");
    if (jf.at("layout").get<std::string>() != "v2")
      fail(
          "{}: feature layout '{}' is not supported (this build computes 'v2'; retrain with "
          "`tandem router train`)",
          origin, jf.at("layout").get<std::string>());
    layout.domains = jf.at("domains").get<std::vector<std::string>>();
    layout.tiers = jf.at("tiers").get<std::vector<std::string>>();
    layout.slots = jf.at("slots").get<int>();
    layout.reject = jf.at("reject").get<bool>();
    for (const auto& c : jf.at("costs")) {
      const auto v = c.get<std::vector<double>>();
      if (v.size() != 3 || !std::isfinite(v[0]) || !std::isfinite(v[1]) || !std::isfinite(v[2]))
        fail("{}: features.costs entries must be [base_s, per_seq_s, prefill_token_s]", origin);
      layout.costs.push_back({v[0], v[1], v[2]});
    }
    if (jf.contains("deadline_s")) {
      const auto v = jf.at("deadline_s").get<std::vector<double>>();
      if (v.size() != 2 || !std::isfinite(v[0]) || !std::isfinite(v[1]) || v[0] <= 0 || v[1] < v[0])
        fail("{}: features.deadline_s must be [lo, hi] seconds with 0 < lo <= hi", origin);
      layout.deadline_lo_s = v[0];
      layout.deadline_hi_s = v[1];
    }
    if (!layout.costs.empty() && layout.costs.size() != layout.tiers.size())
      fail("{}: features.costs has {} entries for {} tiers", origin, layout.costs.size(),
           layout.tiers.size());
    const auto sizes = j.at("net").at("sizes").get<std::vector<int>>();
    if (sizes.size() != 4) fail("{}: net.sizes must list 4 layer widths", origin);
    for (int s : sizes)
      if (s <= 0 || s > 4096) fail("{}: net.sizes has an invalid width {}", origin, s);
    if (sizes[0] != layout.size())
      fail("{}: the net takes {} inputs but the feature layout ({} domains, {} tiers) has {}",
           origin, sizes[0], layout.domains.size(), layout.tiers.size(), layout.size());
    if (sizes[3] != layout.actions())
      fail("{}: the net has {} outputs but the layout has {} actions", origin, sizes[3],
           layout.actions());
    for (int l = 0; l < 3; ++l) {
      const auto w = j.at("net").at("w").at(l).get<std::vector<double>>();
      const auto b = j.at("net").at("b").at(l).get<std::vector<double>>();
      if (w.size() != static_cast<size_t>(sizes[l + 1]) * sizes[l] ||
          b.size() != static_cast<size_t>(sizes[l + 1]))
        fail("{}: layer {} has {} weights and {} biases, expected {}x{} and {}", origin, l,
             w.size(), b.size(), sizes[l + 1], sizes[l], sizes[l + 1]);
      net.w[l].resize(sizes[l + 1], sizes[l]);
      for (int r = 0; r < sizes[l + 1]; ++r)
        for (int c = 0; c < sizes[l]; ++c)
          net.w[l](r, c) = w[static_cast<size_t>(r) * sizes[l] + c];
      net.b[l] = Eigen::Map<const Vec>(b.data(), static_cast<Eigen::Index>(b.size()));
      for (double v : w)
        if (!std::isfinite(v)) fail("{}: layer {} has a non-finite weight", origin, l);
    }
    sum = j.at("checksum").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    fail("{}: malformed router policy: {}", origin, e.what());
  }
  if (sum != fmt::format("{:016x}", checksum(net)))
    fail("{}: checksum mismatch (file says {}, weights give {:016x}): the file is corrupted",
         origin, sum, checksum(net));
  if (!tier_names.empty() && tier_names != layout.tiers)
    fail(
        "{}: trained for tiers [{}] but the configuration has [{}]; retrain for this "
        "configuration (`tandem router train`)",
        origin, fmt::join(layout.tiers, ", "), fmt::join(tier_names, ", "));
  return std::make_unique<LearnedPolicy>(std::move(layout), std::move(net), origin);
}

std::unique_ptr<LearnedPolicy> load_policy(const std::string& path,
                                           const std::vector<std::string>& tier_names) {
  std::ifstream f(path);
  if (!f) fail("{}: cannot open the router policy", path);
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_policy(ss.str(), path, tier_names);
}

std::unique_ptr<serve::Policy> make_learned_policy(const std::string& path,
                                                   const std::vector<serve::TierSpec>& tiers) {
  std::vector<std::string> names;
  for (const serve::TierSpec& t : tiers) names.push_back(t.name);
  return load_policy(path, names);
}

}  // namespace tandem::router
