#include "tandem/tokenizer/chat_template.h"

#include <gtest/gtest.h>

#include "tandem/base/error.h"

namespace tandem {
namespace {

const std::vector<ChatMessage> kConversation = {
    {"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello."}, {"user", "2+2?"}};

TEST(ChatTemplate, DetectsFamiliesFromJinjaMarkers) {
  EXPECT_EQ(ChatTemplate::detect("{% for m in messages %}<|im_start|>{{ m.role }}").name(),
            "chatml");
  EXPECT_EQ(ChatTemplate::detect("<|start_header_id|>{{ role }}<|end_header_id|>").name(),
            "llama3");
  EXPECT_EQ(ChatTemplate::detect("[INST] <<SYS>>\n{{ system }}").name(), "llama2");
  EXPECT_EQ(ChatTemplate::detect("{{ bos_token }}[INST] {{ content }} [/INST]").name(), "mistral");
  EXPECT_EQ(ChatTemplate::detect("<|user|>\n{{ content }}</s>\n<|assistant|>").name(), "zephyr");
  EXPECT_EQ(ChatTemplate::detect("<|user|>\n{{ c }}<|end|>\n<|assistant|>").name(), "phi3");
  EXPECT_EQ(ChatTemplate::detect("<start_of_turn>user").name(), "gemma");
  EXPECT_THROW(ChatTemplate::detect("{{ something else }}"), Error);
  EXPECT_THROW(ChatTemplate::detect(""), Error);
  EXPECT_THROW(ChatTemplate::named("vicuna"), Error);
}

TEST(ChatTemplate, ChatmlFormatsEveryTurnAndTheGenerationPrompt) {
  EXPECT_EQ(ChatTemplate::named("chatml").apply(kConversation, true),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
            "<|im_start|>assistant\n");
}

TEST(ChatTemplate, Llama3AndZephyrAndPhi3) {
  const std::vector<ChatMessage> one = {{"user", "Hi"}};
  EXPECT_EQ(ChatTemplate::named("llama3").apply(one, true),
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(ChatTemplate::named("zephyr").apply(one, true), "<|user|>\nHi</s>\n<|assistant|>\n");
  EXPECT_EQ(ChatTemplate::named("phi3").apply(one, false), "<|user|>\nHi<|end|>\n");
}

TEST(ChatTemplate, InstFormatsPlaceTheSystemPromptDifferently) {
  EXPECT_EQ(ChatTemplate::named("llama2").apply(kConversation, true),
            "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello.</s>[INST] 2+2? [/INST]");
  EXPECT_EQ(ChatTemplate::named("mistral").apply(kConversation, true),
            "[INST] Be brief.\n\nHi [/INST] Hello.</s>[INST] 2+2? [/INST]");
}

TEST(ChatTemplate, GemmaFoldsTheSystemPromptIntoTheFirstUserTurn) {
  EXPECT_EQ(ChatTemplate::named("gemma").apply(kConversation, true),
            "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello."
            "<end_of_turn>\n<start_of_turn>user\n2+2?<end_of_turn>\n<start_of_turn>model\n");
}

TEST(ChatTemplate, UnknownRoleIsRejected) {
  EXPECT_THROW(ChatTemplate::named("chatml").apply({{"tool", "x"}}, true), Error);
}

}  // namespace
}  // namespace tandem
