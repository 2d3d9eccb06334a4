// Model — a Llama-family transformer (llama, qwen2) loaded from GGUF, with a
// forward pass over a batch of sequences.
//
// Contract: Model::load() memory-maps the file, validates metadata and every
// tensor (name, shape, type) and keeps the mapping alive for the model's
// lifetime. forward() runs a batch: each entry is one sequence with one or more
// new tokens; all tokens of the batch go through every weight matrix together
// (so prompt processing and verification of speculative drafts reuse each weight
// row across tokens), while attention runs per sequence over its own KV cache.
//   - Entry tokens occupy cache slots L .. L+n-1 where L = cache.length(seq,
//     layer_begin) (every layer of the range must hold L tokens); their RoPE
//     positions default to those slots and may be given explicitly.
//   - A sequence may appear at most once per batch.
//   - Options choose the layer range [layer_begin, layer_end) (a later range
//     continues from the hidden states an earlier call returned), which logits
//     to produce (none, last token of each entry, every token), and whether to
//     return the hidden state after a given layer (early-exit heads, SPEED).
// Thread safety: the weights are immutable, but forward() uses the model's
// scratch space, so one forward() at a time per Model; parallelism is inside
// forward() through the ThreadPool.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tandem/base/thread_pool.h"
#include "tandem/model/config.h"
#include "tandem/model/kv_cache.h"
#include "tandem/model/weights.h"

namespace tandem {
namespace gguf {
class File;
}

struct SequenceInput {
  int seq = 0;                     // KV-cache sequence id
  std::vector<int32_t> tokens;     // new tokens, in order
  std::vector<int32_t> positions;  // RoPE positions; empty = cache slots
};

enum class LogitsMode { kNone, kLast, kAll };

struct ForwardOptions {
  int64_t layer_begin = 0;  // > 0: `hidden_in` holds the state after layer layer_begin-1
  int64_t layer_end = -1;   // -1 = n_layer; logits of a shorter range use the output head
  LogitsMode logits = LogitsMode::kLast;
  int64_t hidden_layer = -1;         // >= 0: return the hidden state after this layer
  std::span<const float> hidden_in;  // (total tokens, dim) when layer_begin > 0
};

struct ForwardOutput {
  // (rows, n_vocab): kLast gives one row per batch entry, kAll one per token in batch order.
  std::vector<float> logits;
  std::vector<int64_t> first_row;  // per batch entry: its first row in `logits`
  // (total tokens, dim): after layer `hidden_layer`; else, when the range stops before the
  // last layer, after its last layer (the input of the next range); else empty.
  std::vector<float> hidden;
  int64_t n_vocab = 0;

  // Logits of token i of batch entry `entry` (i = 0 is the only row in kLast mode).
  const float* logits_of(size_t entry, int64_t i = 0) const {
    return logits.data() + (first_row[entry] + i) * n_vocab;
  }
};

class Model {
 public:
  static std::unique_ptr<Model> load(const std::string& path);
  ~Model();

  const ModelConfig& config() const { return config_; }
  const Weights& weights() const { return weights_; }
  const gguf::File& file() const { return *file_; }

  KvCache make_cache(int64_t n_ctx, int max_sequences = 1) const;

  void forward(std::span<const SequenceInput> batch, KvCache& cache, const ForwardOptions& options,
               ForwardOutput& out, ThreadPool& pool);

  // Convenience for one sequence: logits of the last token, (n_vocab).
  std::vector<float> forward_last(int seq, std::span<const int32_t> tokens, KvCache& cache,
                                  ThreadPool& pool);

 private:
  Model() = default;
  void attention(std::span<const SequenceInput> batch, const KvCache& cache, int64_t layer,
                 ThreadPool& pool);

  std::unique_ptr<gguf::File> file_;
  ModelConfig config_;
  Weights weights_;

  // Scratch, grown to the largest batch seen: (tokens, width) each.
  std::vector<float> x_, h_, q_, k_, v_, att_, gate_, up_;
  std::vector<int64_t> tok_seq_;   // per token: index of its batch entry
  std::vector<int64_t> tok_slot_;  // per token: its cache slot
  std::vector<int32_t> tok_pos_;   // per token: its RoPE position
  std::vector<int32_t> tok_id_;    // per token: its token id
};

}  // namespace tandem
