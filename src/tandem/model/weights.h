// Weights — views of a Llama-family model's tensors inside a memory-mapped GGUF file.
//
// Contract: Weights::bind() looks up every tensor the config needs, checks its
// presence, rank, shape and dtype, and reports the first problem by tensor name
// and shape ("model.gguf: tensor 'blk.3.attn_k.weight' has shape 2048x2048,
// expected 2048x512 (n_head_kv=8, head_dim=64)"). Matrices are copied once into
// owned memory where kernels::pack_for_loading() says so: Q4_0 and Q8_0 into
// packed kernel layouts and, with huge pages enabled (base/big_buffer.h), other
// matrices of 2 MiB and more row-major into huge pages (kernels/cpu/packed.h:
// same bytes); the file's pages of
// a copied matrix are then released. The rest stays in the mapping (the
// gguf::File must outlive the Weights); a tied output's embedding lookups read
// the row-major copy, or the file when the output was repacked. 1-D tensors (norms, biases) are
// converted to owned f32 vectors. Shape comments use GGUF order
// reversed into (rows, cols): a matrix (rows, cols) has `rows` rows of `cols`
// elements and computes y = W x with x of length cols.
// Thread safety: immutable after bind(); share freely between threads.
#pragma once

#include <cstdint>
#include <vector>

#include "tandem/kernels/cpu/matmul.h"
#include "tandem/kernels/cpu/packed.h"
#include "tandem/model/config.h"

namespace tandem {
namespace gguf {
class File;
}

struct LayerWeights {
  std::vector<float> attn_norm;   // (dim)
  kernels::MatView wq;            // (n_head * head_dim, dim)
  kernels::MatView wk;            // (n_head_kv * head_dim, dim)
  kernels::MatView wv;            // (n_head_kv * head_dim, dim)
  kernels::MatView wo;            // (dim, n_head * head_dim)
  std::vector<float> bq, bk, bv;  // (q_dim), (kv_dim), (kv_dim); qwen2 only, else empty
  std::vector<float> ffn_norm;    // (dim)
  kernels::MatView w_gate;        // (ffn_dim, dim)
  kernels::MatView w_up;          // (ffn_dim, dim)
  kernels::MatView w_down;        // (dim, ffn_dim)
};

struct Weights {
  kernels::MatView token_embd;     // (n_vocab, dim)
  std::vector<float> output_norm;  // (dim)
  kernels::MatView output;         // (n_vocab, dim); the same view as token_embd when tied
  bool tied_output = false;
  std::vector<LayerWeights> layers;           // (n_layer)
  std::vector<kernels::PackedMatrix> packed;  // storage of the repacked views above

  static Weights bind(const gguf::File& file, const ModelConfig& config);
  // Bytes of weights one decode step reads: every matrix, the norms, one embedding row.
  int64_t bytes_per_token() const;

 private:
  void pack_matrices();
};

}  // namespace tandem
