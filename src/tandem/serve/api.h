// OpenAI-compatible request parsing and response building for
// /v1/completions and /v1/chat/completions.
//
// Contract: parse_request() checks every known field's type and range and
// turns the body into GenerationParams (prompt tokenized, chat template
// applied, seed resolved, tier looked up); anything wrong comes back as an
// ApiError (400 invalid_request_error naming the field, 404 model_not_found).
// Unknown fields are ignored, as OpenAI clients send extras. Supported fields:
// model, prompt (string or a one-element array of strings) / messages,
// max_tokens (chat also max_completion_tokens), temperature, top_p, seed,
// stop (string or up to 4 strings), stream, stream_options.include_usage, n (1
// only), and tandem's own: tier, deadline_ms, task, top_k, min_p,
// repetition_penalty. The response builders produce the JSON objects of
// OpenAI's completion / chat.completion (and their .chunk streaming forms),
// each with a "tier" field naming the tier that served the request.
// Thread safety: pure functions over their arguments.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>

#include "tandem/serve/engine.h"
#include "tandem/serve/stream.h"
#include "tandem/tokenizer/chat_template.h"

namespace tandem::serve {

enum class Endpoint { kCompletions, kChat };

struct ParsedRequest {
  GenerationParams params;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  std::string model;           // as the client named it (echoed back)
};

struct ApiContext {
  const Tokenizer* tokenizer;
  const ChatTemplate* chat_template;
  const ServeConfig* config;
  std::string served_name;  // the "any tier" model id, e.g. "tandem"
  double default_deadline_s = 0;
  int64_t default_max_tokens = 256;
};

std::variant<ParsedRequest, ApiError> parse_request(const std::string& body, Endpoint endpoint,
                                                    const ApiContext& ctx, const std::string& id);

nlohmann::json error_json(const ApiError& e);
const char* finish_reason_name(FinishReason r);

// Non-streaming response.
nlohmann::json completion_json(Endpoint endpoint, const std::string& id, const std::string& model,
                               const std::string& tier, const std::string& text,
                               FinishReason finish, int64_t prompt_tokens,
                               int64_t completion_tokens, int64_t created);
// One streaming chunk: text (may be empty) and, on the last one, the finish reason.
nlohmann::json chunk_json(Endpoint endpoint, const std::string& id, const std::string& model,
                          const std::string& tier, const std::string& text,
                          std::optional<FinishReason> finish, int64_t created, bool first);
nlohmann::json usage_json(int64_t prompt_tokens, int64_t completion_tokens);

}  // namespace tandem::serve
