// hf — converts a Hugging Face model folder (LlamaForCausalLM,
// MistralForCausalLM, Qwen2ForCausalLM) into a GGUF model tandem::Model loads.
//
// Inputs: config.json (hidden_size, intermediate_size, num_hidden_layers,
// num_attention_heads, num_key_value_heads, head_dim, rms_norm_eps, rope_theta,
// max_position_embeddings, tie_word_embeddings, rope_scaling {linear, factor}),
// model.safetensors or a sharded model.safetensors.index.json (F32/F16/BF16),
// and the tokenizer files (see hf_tokenizer.h).
// Output: general.architecture "llama" (Llama and Mistral) or "qwen2", the
// `<arch>.*` hyper-parameters, tokenizer metadata, and the tensors
// token_embd, output_norm, output (absent when tied), blk.N.{attn_norm,
// attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down}
// (+ attn_{q,k,v}.bias for qwen2). When the embedding is tied, whichever of
// model.embed_tokens.weight / lm_head.weight the file holds is used.
// RoPE: HF Llama/Mistral rotate (x[i], x[i + hd/2]) while GGUF "llama" rotates
// adjacent pairs, so the rows of q_proj / k_proj are permuted inside every head:
// (n_head, 2, hd/2, dim) -> swap axes 1 and 2 (HF row i -> 2i, i + hd/2 -> 2i+1;
// n_head = num_key_value_heads for k). Qwen2 (NeoX RoPE in GGUF too) is not.
// 2-D weights are stored in opts.type by choose_type()'s rule; norms and
// biases stay F32. Tensors are converted one at a time while the file is
// written (parallel over rows), so memory stays at about one tensor.
// Errors are tandem::Error naming the file: missing files or config keys,
// unsupported architectures / rope scaling / dtypes, bad or truncated
// safetensors, missing tensors or wrong shapes.
// Thread safety: re-entrant.
#pragma once

#include <string>

#include "tandem/convert/options.h"

namespace tandem::convert {

ConvertReport convert_hf(const std::string& folder, const std::string& out_gguf,
                         const ConvertOptions& opts);
ConvertReport convert_hf(const std::string& folder, const std::string& out_gguf,
                         DType out_type = DType::F32);

}  // namespace tandem::convert
