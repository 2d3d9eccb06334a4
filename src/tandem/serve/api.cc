#include "tandem/serve/api.h"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cmath>

#include "tandem/base/error.h"
#include "tandem/base/random.h"

namespace tandem::serve {

using nlohmann::json;

namespace {

ApiError bad(const std::string& param, const std::string& message) {
  return ApiError{400, "invalid_request_error", "invalid_value", message, param, 0};
}

// A fresh seed for requests that give none: distinct per request and per process.
uint64_t fresh_seed() {
  static std::atomic<uint64_t> counter{
      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())};
  uint64_t s = counter.fetch_add(0x9E3779B97F4A7C15ull, std::memory_order_relaxed);
  return splitmix64(s);
}

}  // namespace

const char* finish_reason_name(FinishReason r) {
  return r == FinishReason::kStop ? "stop" : "length";
}

json error_json(const ApiError& e) {
  json err = {{"message", e.message}, {"type", e.type}, {"code", e.code}};
  err["param"] = e.param.empty() ? json(nullptr) : json(e.param);
  return json{{"error", err}};
}

std::variant<ParsedRequest, ApiError> parse_request(const std::string& body, Endpoint endpoint,
                                                    const ApiContext& ctx, const std::string& id) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::parse_error& e) {
    return bad("", fmt::format("the request body is not valid JSON: {}", e.what()));
  }
  if (!j.is_object()) return bad("", "the request body must be a JSON object");
  ParsedRequest r;
  GenerationParams& p = r.params;
  p.id = id;
  p.max_tokens = ctx.default_max_tokens;
  p.deadline_s = ctx.default_deadline_s;

  auto has = [&](const char* k) { return j.contains(k) && !j[k].is_null(); };
  auto number = [&](const char* k, double lo, double hi, double& out) -> std::optional<ApiError> {
    if (!has(k)) return std::nullopt;
    if (!j[k].is_number()) return bad(k, fmt::format("'{}' must be a number", k));
    const double v = j[k].get<double>();
    if (!(v >= lo && v <= hi))
      return bad(k, fmt::format("'{}' must be between {} and {}, got {}", k, lo, hi, v));
    out = v;
    return std::nullopt;
  };
  auto integer = [&](const char* k, int64_t lo, int64_t hi,
                     int64_t& out) -> std::optional<ApiError> {
    if (!has(k)) return std::nullopt;
    if (!j[k].is_number_integer()) return bad(k, fmt::format("'{}' must be an integer", k));
    const int64_t v = j[k].get<int64_t>();
    if (v < lo || v > hi)
      return bad(k, fmt::format("'{}' must be between {} and {}, got {}", k, lo, hi, v));
    out = v;
    return std::nullopt;
  };
  auto string = [&](const char* k, std::string& out) -> std::optional<ApiError> {
    if (!has(k)) return std::nullopt;
    if (!j[k].is_string()) return bad(k, fmt::format("'{}' must be a string", k));
    out = j[k].get<std::string>();
    return std::nullopt;
  };

  // Model and tier: a tier's name selects it; the served name (or none) leaves it to the policy.
  if (auto e = string("model", r.model)) return *e;
  std::string tier;
  if (auto e = string("tier", tier)) return *e;
  const std::string& wanted = !tier.empty() ? tier : r.model;
  if (!wanted.empty() && wanted != ctx.served_name) {
    p.tier = ctx.config->tier_index(wanted);
    if (p.tier < 0) {
      std::string names = ctx.served_name;
      for (const TierSpec& t : ctx.config->tiers) names += ", " + t.name;
      return ApiError{
          404,
          "invalid_request_error",
          "model_not_found",
          fmt::format("the model '{}' does not exist; this server offers: {}", wanted, names),
          tier.empty() ? "model" : "tier",
          0};
    }
  }
  if (r.model.empty()) r.model = !tier.empty() ? tier : ctx.served_name;

  // Sampling and limits.
  double temperature = 1.0, top_p = 1.0, min_p = 0.0, rep = 1.0;
  int64_t max_tokens = p.max_tokens, seed = -1, n = 1, top_k = 0;
  if (auto e = number("temperature", 0.0, 2.0, temperature)) return *e;
  if (auto e = number("top_p", 0.0, 1.0, top_p)) return *e;
  if (has("top_p") && top_p <= 0.0) return bad("top_p", "'top_p' must be greater than 0");
  if (auto e = number("min_p", 0.0, 1.0, min_p)) return *e;
  if (auto e = number("repetition_penalty", 0.01, 10.0, rep)) return *e;
  if (auto e = integer("top_k", 0, 1 << 20, top_k)) return *e;
  const char* max_key = endpoint == Endpoint::kChat && has("max_completion_tokens")
                            ? "max_completion_tokens"
                            : "max_tokens";
  if (auto e = integer(max_key, 1, int64_t{1} << 30, max_tokens)) return *e;
  if (auto e = integer("seed", std::numeric_limits<int64_t>::min(),
                       std::numeric_limits<int64_t>::max(), seed))
    return *e;
  if (auto e = integer("n", 1, 1, n)) return *e;
  for (const char* unsupported : {"logprobs", "echo", "best_of", "suffix", "tools", "functions"})
    if (has(unsupported) && !(j[unsupported].is_boolean() && !j[unsupported].get<bool>()))
      return bad(unsupported, fmt::format("'{}' is not supported by this server", unsupported));
  p.max_tokens = max_tokens;
  p.sampling.temperature = static_cast<float>(temperature);
  p.sampling.top_p = static_cast<float>(top_p);
  p.sampling.min_p = static_cast<float>(min_p);
  p.sampling.top_k = static_cast<int>(top_k);
  p.sampling.repeat_penalty = static_cast<float>(rep);
  p.sampling.seed = has("seed") ? static_cast<uint64_t>(seed) : fresh_seed();

  if (has("stop")) {
    const json& s = j["stop"];
    if (s.is_string()) {
      p.stop.push_back(s.get<std::string>());
    } else if (s.is_array() && s.size() <= 4) {
      for (const json& x : s) {
        if (!x.is_string()) return bad("stop", "'stop' must be a string or an array of strings");
        p.stop.push_back(x.get<std::string>());
      }
    } else {
      return bad("stop", "'stop' must be a string or an array of at most 4 strings");
    }
    for (const std::string& x : p.stop)
      if (x.empty()) return bad("stop", "stop strings must not be empty");
  }
  if (has("stream")) {
    if (!j["stream"].is_boolean()) return bad("stream", "'stream' must be true or false");
    r.stream = j["stream"].get<bool>();
  }
  if (has("stream_options")) {
    const json& so = j["stream_options"];
    if (!so.is_object()) return bad("stream_options", "'stream_options' must be an object");
    if (so.contains("include_usage")) {
      if (!so["include_usage"].is_boolean())
        return bad("stream_options", "'stream_options.include_usage' must be true or false");
      r.include_usage = so["include_usage"].get<bool>();
    }
  }
  double deadline_ms = 0;
  if (auto e = number("deadline_ms", 1.0, 1e9, deadline_ms)) return *e;
  if (deadline_ms > 0) p.deadline_s = deadline_ms / 1000.0;
  if (auto e = string("task", p.task)) return *e;

  // The prompt.
  std::string text;
  bool parse_special = false;
  if (endpoint == Endpoint::kCompletions) {
    if (!has("prompt")) return bad("prompt", "'prompt' is required");
    const json& pr = j["prompt"];
    if (pr.is_string()) {
      text = pr.get<std::string>();
    } else if (pr.is_array() && pr.size() == 1 && pr[0].is_string()) {
      text = pr[0].get<std::string>();
    } else {
      return bad("prompt", "'prompt' must be a string (or an array holding one string)");
    }
  } else {
    if (!has("messages") || !j["messages"].is_array() || j["messages"].empty())
      return bad("messages", "'messages' must be a non-empty array of {role, content}");
    std::vector<ChatMessage> msgs;
    for (size_t i = 0; i < j["messages"].size(); ++i) {
      const json& m = j["messages"][i];
      const std::string where = fmt::format("messages[{}]", i);
      if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
        return bad(where, fmt::format("{} must be an object with a string 'role'", where));
      const std::string role = m["role"].get<std::string>();
      if (role != "system" && role != "user" && role != "assistant" && role != "developer")
        return bad(where,
                   fmt::format("{}: unknown role '{}' (system, user or assistant)", where, role));
      std::string content;
      if (m.contains("content") && m["content"].is_string()) {
        content = m["content"].get<std::string>();
      } else if (m.contains("content") && m["content"].is_array()) {
        for (const json& part : m["content"]) {  // [{type: "text", text: ...}]
          if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
              !part["text"].is_string())
            return bad(where, fmt::format("{}: only text content parts are supported", where));
          content += part["text"].get<std::string>();
        }
      } else {
        return bad(where, fmt::format("{} needs a string 'content'", where));
      }
      msgs.push_back({role == "developer" ? "system" : role, content});
    }
    text = ctx.chat_template->apply(msgs, true);
    parse_special = true;
  }
  p.prompt = ctx.tokenizer->encode(text, true, parse_special);
  return r;
}

json usage_json(int64_t prompt_tokens, int64_t completion_tokens) {
  return json{{"prompt_tokens", prompt_tokens},
              {"completion_tokens", completion_tokens},
              {"total_tokens", prompt_tokens + completion_tokens}};
}

json completion_json(Endpoint endpoint, const std::string& id, const std::string& model,
                     const std::string& tier, const std::string& text, FinishReason finish,
                     int64_t prompt_tokens, int64_t completion_tokens, int64_t created) {
  json choice = {{"index", 0}, {"finish_reason", finish_reason_name(finish)}};
  if (endpoint == Endpoint::kChat) {
    choice["message"] = {{"role", "assistant"}, {"content", text}};
  } else {
    choice["text"] = text;
    choice["logprobs"] = nullptr;
  }
  return json{{"id", id},
              {"object", endpoint == Endpoint::kChat ? "chat.completion" : "text_completion"},
              {"created", created},
              {"model", model},
              {"tier", tier},
              {"choices", json::array({choice})},
              {"usage", usage_json(prompt_tokens, completion_tokens)}};
}

json chunk_json(Endpoint endpoint, const std::string& id, const std::string& model,
                const std::string& tier, const std::string& text,
                std::optional<FinishReason> finish, int64_t created, bool first) {
  json choice = {{"index", 0}};
  choice["finish_reason"] = finish ? json(finish_reason_name(*finish)) : json(nullptr);
  if (endpoint == Endpoint::kChat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (!text.empty() || (!finish && !first)) delta["content"] = text;
    if (first && text.empty() && !finish) delta["content"] = "";
    choice["delta"] = delta;
  } else {
    choice["text"] = text;
    choice["logprobs"] = nullptr;
  }
  return json{{"id", id},
              {"object", endpoint == Endpoint::kChat ? "chat.completion.chunk" : "text_completion"},
              {"created", created},
              {"model", model},
              {"tier", tier},
              {"choices", json::array({choice})}};
}

}  // namespace tandem::serve
