// Vocab — the token table of a tokenizer, read from GGUF metadata
// (`tokenizer.ggml.tokens`, `tokenizer.ggml.token_type`, `tokenizer.ggml.scores`).
//
// Contract: Vocab::from_gguf() validates the arrays (same length, at least one
// token) and throws tandem::Error naming the file and key on bad input. Token
// texts are stored exactly as in the file (SentencePiece vocabularies keep
// U+2581 for spaces, byte-level BPE vocabularies keep the GPT-2 byte mapping).
// find() returns the first id with a given text (later duplicates are unreachable
// by text, as in the reference tokenizers).
// Ownership: plain value; owns its strings.
// Thread safety: immutable after construction; const methods are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tandem/gguf/reader.h"

namespace tandem {

// Values of `tokenizer.ggml.token_type` (llama.cpp conventions).
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct Vocab {
  std::vector<std::string> text;
  std::vector<TokenType> type;
  std::vector<float> score;  // all 0 when the file has no scores
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> ids;

  static Vocab from_gguf(const gguf::File& file);

  int32_t size() const { return static_cast<int32_t>(text.size()); }
  bool valid(int32_t id) const { return id >= 0 && id < size(); }
  // First id whose text is exactly s, or -1.
  int32_t find(std::string_view s) const {
    auto it = ids.find(s);
    return it == ids.end() ? -1 : it->second;
  }
};

}  // namespace tandem
