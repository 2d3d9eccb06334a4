#include "tandem/model/config.h"

#include "tandem/base/error.h"
#include "tandem/gguf/reader.h"

namespace tandem {

ModelConfig ModelConfig::from_gguf(const gguf::File& f) {
  ModelConfig c;
  c.arch = f.get_string("general.architecture");
  if (c.arch != "llama" && c.arch != "qwen2")
    fail("{}: architecture '{}' is not supported (tandem runs 'llama' and 'qwen2' models)",
         f.path(), c.arch);
  const std::string a = c.arch + ".";
  c.dim = f.get_int(a + "embedding_length");
  c.n_layer = f.get_int(a + "block_count");
  c.n_head = f.get_int(a + "attention.head_count");
  c.n_head_kv = f.get_int(a + "attention.head_count_kv", c.n_head);
  c.ffn_dim = f.get_int(a + "feed_forward_length");
  c.n_ctx_train = f.get_int(a + "context_length", 2048);
  c.rms_eps = static_cast<float>(f.get_float(a + "attention.layer_norm_rms_epsilon", 1e-5));
  c.rope_base = static_cast<float>(f.get_float(a + "rope.freq_base", 10000.0));
  c.rope_neox = c.arch == "qwen2";
  c.qkv_bias = c.arch == "qwen2";

  auto positive = [&](const char* key, int64_t v, int64_t limit) {
    if (v <= 0 || v > limit)
      fail("{}: metadata {}{} = {} is out of range (expected 1..{})", f.path(), a, key, v, limit);
  };
  positive("embedding_length", c.dim, 1 << 16);
  positive("block_count", c.n_layer, 1024);
  positive("attention.head_count", c.n_head, 1024);
  positive("attention.head_count_kv", c.n_head_kv, 1024);
  positive("feed_forward_length", c.ffn_dim, 1 << 18);
  positive("context_length", c.n_ctx_train, 1 << 24);
  if (c.n_head % c.n_head_kv != 0)
    fail("{}: attention.head_count ({}) is not a multiple of attention.head_count_kv ({})",
         f.path(), c.n_head, c.n_head_kv);
  c.head_dim = f.get_int(a + "attention.key_length", c.dim / c.n_head);
  if (c.head_dim <= 0 || c.head_dim % 2 != 0 || c.head_dim > 1024)
    fail("{}: head dimension {} is invalid (must be even, 2..1024)", f.path(), c.head_dim);
  if (!f.find(a + "attention.key_length") && c.dim % c.n_head != 0)
    fail("{}: embedding_length {} is not divisible by head_count {}", f.path(), c.dim, c.n_head);
  int64_t v_len = f.get_int(a + "attention.value_length", c.head_dim);
  if (v_len != c.head_dim)
    fail("{}: key_length {} != value_length {} is not supported", f.path(), c.head_dim, v_len);
  c.rope_dim = f.get_int(a + "rope.dimension_count", c.head_dim);
  if (c.rope_dim != c.head_dim)
    fail(
        "{}: rope.dimension_count {} differs from the head dimension {}; partial rotary "
        "embeddings are not supported",
        f.path(), c.rope_dim, c.head_dim);
  if (!(c.rms_eps > 0.0f && c.rms_eps < 1.0f))
    fail("{}: layer_norm_rms_epsilon {} is out of range", f.path(), c.rms_eps);
  if (!(c.rope_base > 1.0f)) fail("{}: rope.freq_base {} must be > 1", f.path(), c.rope_base);

  std::string scaling = f.get_string(a + "rope.scaling.type", "none");
  if (scaling == "linear") {
    double factor = f.get_float(a + "rope.scaling.factor", 1.0);
    if (!(factor >= 1.0 && factor <= 1024.0))
      fail("{}: rope.scaling.factor {} is out of range (1..1024)", f.path(), factor);
    c.rope_freq_scale = static_cast<float>(1.0 / factor);
  } else if (scaling != "none") {
    fail("{}: rope.scaling.type '{}' is not supported (tandem supports 'none' and 'linear')",
         f.path(), scaling);
  }

  const gguf::TensorInfo* embd = f.find_tensor("token_embd.weight");
  if (!embd) fail("{}: tensor 'token_embd.weight' is missing", f.path());
  if (embd->shape.size() != 2)
    fail("{}: tensor 'token_embd.weight' must be 2-D, has {} dimensions", f.path(),
         embd->shape.size());
  c.n_vocab = embd->shape[1];
  return c;
}

}  // namespace tandem
