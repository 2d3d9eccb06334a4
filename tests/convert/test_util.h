// Helpers for the converter tests: where ../shared is, a per-process temporary
// directory, greedy decoding with tandem::Model, a minimal SentencePiece-style
// detokenizer over GGUF token strings, and writers for synthetic safetensors /
// Hugging Face folders.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tandem/base/thread_pool.h"

namespace tandem::testing {

// $TANDEM_SHARED, else ${TANDEM_SOURCE_DIR}/../shared; "" when it does not exist.
std::string shared_dir();
// Directory for this test process's files (removed at exit).
std::string temp_dir();

// Greedy decoding: feeds `prompt`, then appends `n_new` argmax tokens.
std::vector<int32_t> greedy(const std::string& model, const std::vector<int32_t>& prompt, int n_new,
                            ThreadPool& pool);

// Text of `ids` from the GGUF vocabulary: "▁" -> " ", "<0xXX>" -> that byte, a
// leading space right after BOS (id 1) dropped (llama2.c's decode rule).
std::string detokenize(const std::vector<std::string>& vocab, const std::vector<int32_t>& ids);

struct StEntry {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;  // written as F32
};
// Writes a safetensors file; `header_override` replaces the JSON header when non-empty.
void write_safetensors(const std::string& path, const std::vector<StEntry>& tensors,
                       const std::string& header_override = "");
void write_text(const std::string& path, const std::string& text);

// A tiny random HF model folder. arch: "llama" or "qwen2". Returns the tensors written.
struct HfSpec {
  std::string arch = "llama";
  int64_t dim = 64, ffn = 96, n_layer = 2, n_head = 4, n_kv = 2, vocab = 40;
  bool tied = false;
  bool byte_level = false;  // tokenizer.json family
};
std::map<std::string, StEntry> write_hf_folder(const std::string& dir, const HfSpec& spec);

}  // namespace tandem::testing
