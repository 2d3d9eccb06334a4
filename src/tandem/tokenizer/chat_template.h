// ChatTemplate — formats a conversation the way a chat model was trained to
// see it.
//
// Contract: GGUF files carry the template as Jinja source
// (`tokenizer.chat_template`); tandem does not embed a Jinja interpreter.
// Instead detect() recognises the common template families by their
// distinctive markers and applies an equivalent built-in formatter: chatml
// (Qwen, SmolLM, many fine-tunes), llama3, llama2 / mistral ([INST]), zephyr
// (TinyLlama-chat), phi3 and gemma. An unrecognised template is an error that
// says which names --chat-template accepts. The output is text containing the
// templates' special tokens, to be encoded with parse_special = true.
// Thread safety: immutable value type.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tandem {

struct ChatMessage {
  std::string role;  // "system" | "user" | "assistant"
  std::string content;
};

class ChatTemplate {
 public:
  enum class Kind { kChatml, kLlama3, kLlama2, kMistral, kZephyr, kPhi3, kGemma };

  static ChatTemplate detect(std::string_view jinja_source);
  static ChatTemplate named(std::string_view name);

  Kind kind() const { return kind_; }
  std::string_view name() const;
  // add_generation_prompt: end with the assistant turn's opening.
  std::string apply(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;

 private:
  explicit ChatTemplate(Kind k) : kind_(k) {}
  Kind kind_;
};

// "chatml, llama3, llama2, mistral, zephyr, phi3, gemma"
std::string_view chat_template_names();

}  // namespace tandem
