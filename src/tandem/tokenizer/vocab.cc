#include "tandem/tokenizer/vocab.h"

#include "tandem/base/error.h"

namespace tandem {

Vocab Vocab::from_gguf(const gguf::File& file) {
  Vocab v;
  const std::string& path = file.path();
  const gguf::Value* tokens = file.find("tokenizer.ggml.tokens");
  if (!tokens) fail("{}: metadata key 'tokenizer.ggml.tokens' is missing (not a tokenizer?)", path);
  v.text = tokens->as_string_array(path + ": metadata key 'tokenizer.ggml.tokens'");
  size_t n = v.text.size();
  if (n == 0) fail("{}: tokenizer.ggml.tokens is empty", path);
  if (n > static_cast<size_t>(INT32_MAX)) fail("{}: tokenizer.ggml.tokens has {} entries", path, n);

  v.type.assign(n, TokenType::kNormal);
  if (const gguf::Value* tt = file.find("tokenizer.ggml.token_type")) {
    auto types = tt->as_i32_array(path + ": metadata key 'tokenizer.ggml.token_type'");
    if (types.size() != n)
      fail("{}: tokenizer.ggml.token_type has {} entries, expected {} (one per token)", path,
           types.size(), n);
    for (size_t i = 0; i < n; ++i) {
      if (types[i] < 0 || types[i] > 6)
        fail("{}: tokenizer.ggml.token_type[{}] is {}, expected 0..6", path, i, types[i]);
      v.type[i] = static_cast<TokenType>(types[i]);
    }
  }

  v.score.assign(n, 0.0f);
  if (const gguf::Value* s = file.find("tokenizer.ggml.scores")) {
    v.score = s->as_f32_array(path + ": metadata key 'tokenizer.ggml.scores'");
    if (v.score.size() != n)
      fail("{}: tokenizer.ggml.scores has {} entries, expected {} (one per token)", path,
           v.score.size(), n);
  }

  v.ids.reserve(n);
  for (size_t i = 0; i < n; ++i) v.ids.emplace(v.text[i], static_cast<int32_t>(i));
  return v;
}

}  // namespace tandem
