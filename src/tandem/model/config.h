// ModelConfig — the hyper-parameters of a Llama-family model, read from GGUF metadata.
//
// Contract: from_gguf() reads `general.architecture` ("llama" or "qwen2") and the
// `<arch>.*` keys, fills defaults where the format allows them, and checks every
// value for consistency (e.g. head_count divisible by head_count_kv), throwing
// tandem::Error that names the file and the key. Plain value type.
#pragma once

#include <cstdint>
#include <string>

namespace tandem {
namespace gguf {
class File;
}

struct ModelConfig {
  std::string arch;              // "llama" | "qwen2"
  int64_t n_vocab = 0;           // rows of token_embd
  int64_t dim = 0;               // embedding_length
  int64_t n_layer = 0;           // block_count
  int64_t n_head = 0;            // attention.head_count
  int64_t n_head_kv = 0;         // attention.head_count_kv
  int64_t head_dim = 0;          // attention.key_length or dim / n_head
  int64_t ffn_dim = 0;           // feed_forward_length
  int64_t n_ctx_train = 0;       // context_length
  float rms_eps = 1e-5f;         // attention.layer_norm_rms_epsilon
  float rope_base = 10000.0f;    // rope.freq_base
  float rope_freq_scale = 1.0f;  // 1 / rope.scaling.factor for linear scaling
  int64_t rope_dim = 0;    // rope.dimension_count (== head_dim: partial rotary is not supported)
  bool rope_neox = false;  // qwen2 rotates (x[i], x[i+d/2]); llama rotates adjacent pairs
  bool qkv_bias = false;   // qwen2 has attn_{q,k,v}.bias

  int64_t q_dim() const { return n_head * head_dim; }
  int64_t kv_dim() const { return n_head_kv * head_dim; }

  // n_vocab is taken from the token_embd tensor, so the file's tensors are needed too.
  static ModelConfig from_gguf(const gguf::File& file);
};

}  // namespace tandem
