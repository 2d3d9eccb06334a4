// synth — writes random-weight GGUF models of real shapes, so benchmarks and
// tests run at true model sizes without downloading anything.
//
// Contract: synth_model() writes a complete llama/qwen2 GGUF (metadata, every
// tensor the Model loader requires) whose matrices hold deterministic
// pseudo-random values (a seed and the tensor name fix them, independent of the
// thread count), quantised to the requested type. The vocabulary (tokenizer.*
// keys) can be copied from another GGUF; when the shape's vocabulary is larger
// than the copied one, the token list is padded with UNUSED tokens named
// "<synth_pad_N>" so the embedding and output matrices keep the real model's
// size (and so its bytes per decoded token). Weights are generated row-block by
// row-block while the file is written: a 1B model never sits in memory whole.
// Thread safety: synth_model() is re-entrant; it uses the given pool.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tandem/base/thread_pool.h"
#include "tandem/tensor/dtype.h"

namespace tandem {

struct SynthSpec {
  std::string name = "custom";
  std::string arch = "llama";  // "llama" | "qwen2" (qwen2 adds q/k/v biases, NeoX RoPE)
  int64_t n_vocab = 512;
  int64_t dim = 64;
  int64_t n_layer = 2;
  int64_t n_head = 4;
  int64_t n_head_kv = 4;
  int64_t ffn_dim = 128;
  int64_t n_ctx = 2048;
  float rope_base = 10000.0f;
  float rope_scale = 1.0f;  // linear rope.scaling.factor; 1 = none
  float rms_eps = 1e-5f;
  bool tied_output = false;
  DType type = DType::F32;  // type of the 2-D weights
  // Q4_K_M-style mix: when set, output and every ffn_down/attn_v use this type.
  std::optional<DType> type_high;
  uint64_t seed = 1;
  std::string vocab_from;  // GGUF whose tokenizer.* metadata is copied ("" = none)
};

// Named shapes of real models: "llama-3.2-1b", "tinyllama-1.1b", "llama-110m".
std::optional<SynthSpec> synth_shape(const std::string& name);
std::vector<std::string> synth_shape_names();

void synth_model(const SynthSpec& spec, const std::string& path, ThreadPool& pool,
                 bool show_progress = false);

}  // namespace tandem
