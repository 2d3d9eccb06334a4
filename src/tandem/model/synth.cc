#include "tandem/model/synth.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <memory>

#include "tandem/base/error.h"
#include "tandem/base/progress.h"
#include "tandem/base/random.h"
#include "tandem/gguf/reader.h"
#include "tandem/gguf/writer.h"
#include "tandem/tensor/quantize.h"

namespace tandem {
namespace {

uint64_t hash_name(const std::string& s, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
  return h;
}

// Approximately normal values (Irwin-Hall sum of four 16-bit uniforms, variance
// matched): cheap enough to generate a billion weights in seconds.
void fill_normal(float* out, int64_t n, uint64_t seed, float mean, float stddev) {
  uint64_t state = seed;
  const float k = stddev * std::sqrt(3.0f) / 65536.0f;
  for (int64_t i = 0; i < n; ++i) {
    uint64_t r = splitmix64(state);
    float s =
        static_cast<float>((r & 0xFFFF) + ((r >> 16) & 0xFFFF) + ((r >> 32) & 0xFFFF) + (r >> 48)) -
        2.0f * 65536.0f;
    out[i] = mean + k * s;
  }
}

struct TensorPlan {
  std::string name;
  DType type;
  int64_t rows, cols;  // (rows, cols) matrix; rows == 1 for vectors
  float mean, stddev;
};

std::vector<TensorPlan> plan_tensors(const SynthSpec& s) {
  const int64_t hd = s.dim / s.n_head, qd = s.n_head * hd, kvd = s.n_head_kv * hd;
  const DType hi = s.type_high.value_or(s.type);
  auto mat_std = [](int64_t cols) { return 1.0f / std::sqrt(static_cast<float>(cols)); };
  std::vector<TensorPlan> p;
  p.push_back({"token_embd.weight", s.type, s.n_vocab, s.dim, 0.0f, 1.0f});
  p.push_back({"output_norm.weight", DType::F32, 1, s.dim, 1.0f, 0.1f});
  if (!s.tied_output) p.push_back({"output.weight", hi, s.n_vocab, s.dim, 0.0f, mat_std(s.dim)});
  for (int64_t i = 0; i < s.n_layer; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    p.push_back({b + "attn_norm.weight", DType::F32, 1, s.dim, 1.0f, 0.1f});
    p.push_back({b + "attn_q.weight", s.type, qd, s.dim, 0.0f, mat_std(s.dim)});
    p.push_back({b + "attn_k.weight", s.type, kvd, s.dim, 0.0f, mat_std(s.dim)});
    p.push_back({b + "attn_v.weight", hi, kvd, s.dim, 0.0f, mat_std(s.dim)});
    if (s.arch == "qwen2") {
      p.push_back({b + "attn_q.bias", DType::F32, 1, qd, 0.0f, 0.1f});
      p.push_back({b + "attn_k.bias", DType::F32, 1, kvd, 0.0f, 0.1f});
      p.push_back({b + "attn_v.bias", DType::F32, 1, kvd, 0.0f, 0.1f});
    }
    p.push_back({b + "attn_output.weight", s.type, s.dim, qd, 0.0f, mat_std(qd)});
    p.push_back({b + "ffn_norm.weight", DType::F32, 1, s.dim, 1.0f, 0.1f});
    p.push_back({b + "ffn_gate.weight", s.type, s.ffn_dim, s.dim, 0.0f, mat_std(s.dim)});
    p.push_back({b + "ffn_up.weight", s.type, s.ffn_dim, s.dim, 0.0f, mat_std(s.dim)});
    p.push_back({b + "ffn_down.weight", hi, s.dim, s.ffn_dim, 0.0f, mat_std(s.ffn_dim)});
  }
  return p;
}

void check_spec(const SynthSpec& s) {
  auto pos = [](const char* what, int64_t v) {
    if (v <= 0) fail("synth: {} must be positive, got {}", what, v);
  };
  pos("vocabulary size", s.n_vocab);
  pos("dim", s.dim);
  pos("layers", s.n_layer);
  pos("heads", s.n_head);
  pos("kv heads", s.n_head_kv);
  pos("ffn dim", s.ffn_dim);
  if (s.arch != "llama" && s.arch != "qwen2")
    fail("synth: architecture '{}' is not supported (llama, qwen2)", s.arch);
  if (s.dim % s.n_head != 0 || (s.dim / s.n_head) % 2 != 0)
    fail("synth: dim {} must be a multiple of heads {} with an even head dimension", s.dim,
         s.n_head);
  if (s.n_head % s.n_head_kv != 0)
    fail("synth: heads {} must be a multiple of kv heads {}", s.n_head, s.n_head_kv);
  for (DType t : {s.type, s.type_high.value_or(s.type)}) {
    const DTypeInfo& info = dtype_info(t);
    if (!info.computable) fail("synth: type {} is not supported", info.name);
    for (int64_t cols : {s.dim, s.ffn_dim, s.n_head * (s.dim / s.n_head)})
      if (cols % info.block_elems != 0)
        fail(
            "synth: type {} needs row lengths that are multiples of {}, but a row has {} "
            "elements",
            info.name, info.block_elems, cols);
  }
}

void add_vocabulary(gguf::Writer& w, SynthSpec& s) {
  auto src = gguf::File::open(s.vocab_from);
  w.copy_metadata(*src, [](std::string_view k) { return k.rfind("tokenizer.", 0) == 0; });
  const gguf::Value* tokens_v = src->find("tokenizer.ggml.tokens");
  if (!tokens_v) fail("{}: has no tokenizer.ggml.tokens to copy", s.vocab_from);
  std::vector<std::string> tokens = tokens_v->as_string_array();
  const int64_t n_src = static_cast<int64_t>(tokens.size());
  if (n_src > s.n_vocab) s.n_vocab = n_src;  // the vocabulary must be representable
  if (n_src == s.n_vocab) return;
  for (int64_t i = n_src; i < s.n_vocab; ++i)
    tokens.push_back("<synth_pad_" + std::to_string(i) + ">");
  w.set("tokenizer.ggml.tokens", gguf::Value::string_array(tokens));
  if (const gguf::Value* v = src->find("tokenizer.ggml.scores")) {
    std::vector<float> scores = v->as_f32_array();
    scores.resize(s.n_vocab, -1e9f);
    w.set("tokenizer.ggml.scores", gguf::Value::f32_array(scores));
  }
  if (const gguf::Value* v = src->find("tokenizer.ggml.token_type")) {
    std::vector<int32_t> types = v->as_i32_array();
    types.resize(s.n_vocab, 5);  // 5 = UNUSED
    w.set("tokenizer.ggml.token_type", gguf::Value::i32_array(types));
  }
}

}  // namespace

std::vector<std::string> synth_shape_names() {
  return {"llama-3.2-1b", "tinyllama-1.1b", "llama-110m"};
}

std::optional<SynthSpec> synth_shape(const std::string& name) {
  SynthSpec s;
  s.name = name;
  if (name == "llama-3.2-1b") {
    s.n_vocab = 128256, s.dim = 2048, s.n_layer = 16, s.n_head = 32, s.n_head_kv = 8;
    s.ffn_dim = 8192, s.n_ctx = 131072, s.rope_base = 500000.0f, s.tied_output = true;
  } else if (name == "tinyllama-1.1b") {
    s.n_vocab = 32000, s.dim = 2048, s.n_layer = 22, s.n_head = 32, s.n_head_kv = 4;
    s.ffn_dim = 5632, s.n_ctx = 2048, s.rope_base = 10000.0f, s.tied_output = false;
  } else if (name == "llama-110m") {
    s.n_vocab = 32000, s.dim = 768, s.n_layer = 12, s.n_head = 12, s.n_head_kv = 12;
    s.ffn_dim = 2048, s.n_ctx = 1024, s.rope_base = 10000.0f, s.tied_output = true;
  } else {
    return std::nullopt;
  }
  return s;
}

void synth_model(const SynthSpec& spec_in, const std::string& path, ThreadPool& pool,
                 bool show_progress) {
  SynthSpec s = spec_in;
  gguf::Writer w;
  if (!s.vocab_from.empty()) add_vocabulary(w, s);
  check_spec(s);

  const std::string a = s.arch + ".";
  w.set("general.architecture", gguf::Value::str(s.arch));
  w.set("general.name", gguf::Value::str("tandem-synth-" + s.name));
  w.set(a + "vocab_size", gguf::Value::u32(static_cast<uint32_t>(s.n_vocab)));
  w.set(a + "context_length", gguf::Value::u32(static_cast<uint32_t>(s.n_ctx)));
  w.set(a + "embedding_length", gguf::Value::u32(static_cast<uint32_t>(s.dim)));
  w.set(a + "block_count", gguf::Value::u32(static_cast<uint32_t>(s.n_layer)));
  w.set(a + "feed_forward_length", gguf::Value::u32(static_cast<uint32_t>(s.ffn_dim)));
  w.set(a + "attention.head_count", gguf::Value::u32(static_cast<uint32_t>(s.n_head)));
  w.set(a + "attention.head_count_kv", gguf::Value::u32(static_cast<uint32_t>(s.n_head_kv)));
  w.set(a + "attention.layer_norm_rms_epsilon", gguf::Value::f32(s.rms_eps));
  w.set(a + "rope.freq_base", gguf::Value::f32(s.rope_base));
  w.set(a + "rope.dimension_count", gguf::Value::u32(static_cast<uint32_t>(s.dim / s.n_head)));
  if (s.rope_scale != 1.0f) {
    w.set(a + "rope.scaling.type", gguf::Value::str("linear"));
    w.set(a + "rope.scaling.factor", gguf::Value::f32(s.rope_scale));
  }

  const std::vector<TensorPlan> plans = plan_tensors(s);
  for (const TensorPlan& p : plans) {
    std::vector<int64_t> shape =
        p.rows == 1 ? std::vector<int64_t>{p.cols} : std::vector<int64_t>{p.cols, p.rows};
    const uint64_t seed = hash_name(p.name, s.seed);
    w.add_tensor(p.name, p.type, shape, [p, seed, &pool](uint8_t* dst, size_t nbytes) {
      const int64_t rb = row_bytes(p.type, p.cols);
      TANDEM_CHECK(static_cast<int64_t>(nbytes) == rb * p.rows, "synth size mismatch for {}",
                   p.name);
      pool.parallel_for(p.rows, 64, [&](int64_t begin, int64_t end) {
        std::vector<float> row(p.cols);
        for (int64_t r = begin; r < end; ++r) {
          fill_normal(row.data(), p.cols, seed ^ (0x51ED2701ull * (r + 1)), p.mean, p.stddev);
          quantize_row(p.type, row.data(), dst + r * rb, p.cols);
        }
      });
    });
  }
  std::unique_ptr<Progress> progress;
  if (show_progress) progress = std::make_unique<Progress>("synth " + path, 100);
  w.write(path, [&](uint64_t done, uint64_t total) {
    if (progress) progress->update(total ? static_cast<int64_t>(100 * done / total) : 100);
  });
}

}  // namespace tandem
