#include "tandem/tokenizer/chat_template.h"

#include <array>
#include <utility>

#include "tandem/base/error.h"

namespace tandem {
namespace {

constexpr std::array<std::pair<std::string_view, ChatTemplate::Kind>, 7> kNames = {{
    {"chatml", ChatTemplate::Kind::kChatml},
    {"llama3", ChatTemplate::Kind::kLlama3},
    {"llama2", ChatTemplate::Kind::kLlama2},
    {"mistral", ChatTemplate::Kind::kMistral},
    {"zephyr", ChatTemplate::Kind::kZephyr},
    {"phi3", ChatTemplate::Kind::kPhi3},
    {"gemma", ChatTemplate::Kind::kGemma},
}};

bool has(std::string_view s, std::string_view marker) {
  return s.find(marker) != std::string_view::npos;
}

void check_role(const ChatMessage& m) {
  if (m.role != "system" && m.role != "user" && m.role != "assistant")
    fail("chat message role '{}' is not one of system, user, assistant", m.role);
}

}  // namespace

std::string_view chat_template_names() {
  return "chatml, llama3, llama2, mistral, zephyr, phi3, gemma";
}

ChatTemplate ChatTemplate::named(std::string_view name) {
  for (const auto& [n, k] : kNames)
    if (n == name) return ChatTemplate(k);
  fail("unknown chat template '{}' (known: {})", name, chat_template_names());
}

ChatTemplate ChatTemplate::detect(std::string_view src) {
  if (src.empty())
    fail(
        "the model has no chat template (tokenizer.chat_template); pass --chat-template NAME "
        "({})",
        chat_template_names());
  if (has(src, "<|im_start|>")) return ChatTemplate(Kind::kChatml);
  if (has(src, "<|start_header_id|>")) return ChatTemplate(Kind::kLlama3);
  if (has(src, "<start_of_turn>")) return ChatTemplate(Kind::kGemma);
  if (has(src, "<|assistant|>") && has(src, "<|end|>")) return ChatTemplate(Kind::kPhi3);
  if (has(src, "<|assistant|>") || has(src, "<|user|>")) return ChatTemplate(Kind::kZephyr);
  if (has(src, "[INST]")) return ChatTemplate(has(src, "<<SYS>>") ? Kind::kLlama2 : Kind::kMistral);
  fail("the model's chat template is not one tandem recognises; pass --chat-template NAME ({})",
       chat_template_names());
}

std::string_view ChatTemplate::name() const {
  for (const auto& [n, k] : kNames)
    if (k == kind_) return n;
  return "?";
}

std::string ChatTemplate::apply(const std::vector<ChatMessage>& msgs, bool gen) const {
  std::string out;
  for (const ChatMessage& m : msgs) check_role(m);
  switch (kind_) {
    case Kind::kChatml:
      for (const auto& m : msgs) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
      if (gen) out += "<|im_start|>assistant\n";
      break;
    case Kind::kLlama3:
      for (const auto& m : msgs)
        out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + m.content + "<|eot_id|>";
      if (gen) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      break;
    case Kind::kZephyr:
    case Kind::kPhi3: {
      const std::string end = kind_ == Kind::kZephyr ? "</s>" : "<|end|>";
      for (const auto& m : msgs) out += "<|" + m.role + "|>\n" + m.content + end + "\n";
      if (gen) out += "<|assistant|>\n";
      break;
    }
    case Kind::kGemma:
      // Gemma has no system role: the system text opens the first user turn.
      {
        std::string pending_system;
        for (const auto& m : msgs) {
          if (m.role == "system") {
            pending_system += m.content + "\n\n";
            continue;
          }
          const std::string role = m.role == "assistant" ? "model" : "user";
          out += "<start_of_turn>" + role + "\n" + (role == "user" ? pending_system : "") +
                 m.content + "<end_of_turn>\n";
          if (role == "user") pending_system.clear();
        }
        if (gen) out += "<start_of_turn>model\n";
      }
      break;
    case Kind::kLlama2:
    case Kind::kMistral: {
      // [INST] user [/INST] assistant</s>; llama2 puts the system prompt in <<SYS>>
      // inside the first instruction, mistral prepends it to the first user text.
      std::string system;
      bool first_user = true;
      for (const auto& m : msgs) {
        if (m.role == "system") {
          system = m.content;
        } else if (m.role == "user") {
          std::string content = m.content;
          if (first_user && !system.empty())
            content = kind_ == Kind::kLlama2 ? "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + content
                                             : system + "\n\n" + content;
          first_user = false;
          out += "[INST] " + content + " [/INST]";
        } else {
          out += " " + m.content + "</s>";
        }
      }
      // The BOS the tokenizer adds opens the conversation; generation follows [/INST].
      (void)gen;
      break;
    }
  }
  return out;
}

}  // namespace tandem
