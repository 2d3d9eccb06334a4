// llama2c — converts a llama2.c checkpoint (legacy "version 0" export) and its
// tokenizer.bin into a GGUF `llama` model that tandem::Model loads.
//
// Checkpoint layout (llama2.c run.c, memory_map_weights): 7 int32
//   dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
// (vocab_size < 0 means the classifier is not shared with the embedding), then
// f32 arrays, every matrix stored as PyTorch nn.Linear weights (out, in):
//   token_embedding (vocab, dim)     rms_att (layer, dim)
//   wq (layer, n_heads*hd, dim)      wk, wv (layer, n_kv*hd, dim)
//   wo (layer, dim, n_heads*hd)      rms_ffn (layer, dim)
//   w1 (layer, hidden, dim)          w2 (layer, dim, hidden)   w3 (layer, hidden, dim)
//   rms_final (dim), freq_cis_real and freq_cis_imag (seq_len*hd/2 each, skipped),
//   wcls (vocab, dim) only when unshared.
// llama2.c rotates adjacent pairs (x[2i], x[2i+1]) of each head with
// theta_i = 10000^(-2i/hd), which is exactly GGUF llama's "normal" RoPE, so Q/K
// rows are written unpermuted. RMSNorm eps is 1e-5.
//
// tokenizer.bin: int32 max_token_length, then per token f32 score, int32 byte
// length, bytes. llama2.c's exporter replaced SentencePiece's "▁" (U+2581) by a
// plain space and wrote BOS/EOS as "\n<s>\n" / "\n</s>\n"; the converter undoes
// both, so the GGUF vocabulary is SentencePiece-style (`tokenizer.ggml.model` =
// "llama", spaces as U+2581, "<s>", "</s>"), with token types <unk> UNKNOWN,
// <s>/</s> CONTROL, <0xXX> BYTE, others NORMAL; bos 1, eos 2, unk 0,
// add_bos_token true, add_space_prefix true.
//
// Errors (missing file, bad or inconsistent header, a file shorter or longer
// than the header implies, a truncated tokenizer) are tandem::Error naming the
// file. Thread safety: re-entrant.
#pragma once

#include <string>

#include "tandem/convert/options.h"

namespace tandem::convert {

ConvertReport convert_llama2c(const std::string& checkpoint, const std::string& tokenizer_bin,
                              const std::string& out_gguf, const ConvertOptions& opts = {});

}  // namespace tandem::convert
