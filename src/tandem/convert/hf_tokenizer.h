// hf_tokenizer — turns a Hugging Face tokenizer (tokenizer.json plus
// tokenizer_config.json, config.json, generation_config.json) into GGUF
// `tokenizer.*` metadata.
//
// Two families of BPE tokenizer.json are supported:
//  * SentencePiece-style BPE (byte_fallback and/or spaces replaced by "▁"
//    U+2581 in the normalizer or a Metaspace pre-tokenizer): written as
//    `tokenizer.ggml.model = "llama"` with scores. SentencePiece-style encoding
//    repeatedly merges the adjacent pair whose concatenation is the vocabulary
//    token of highest score (leftmost first on ties); HF BPE repeatedly merges
//    the adjacent pair of lowest merge rank (leftmost first). Giving the token
//    produced by merge rank r the score -r (its first merge when several
//    produce it) and every token no merge produces (base characters, bytes,
//    specials) a score below all of them, -(n_merges + 1), makes the two agree
//    whenever the vocabulary's tokens are only reachable by their own merge —
//    true of tokenizers trained by BPE; tests/convert/hf_bpe.py checks it on
//    real text. add_space_prefix comes from a Prepend("▁") normalizer or the
//    Metaspace prepend setting.
//  * Byte-level BPE (a ByteLevel pre-tokenizer: GPT-2, Llama-3, Qwen2): written
//    as `tokenizer.ggml.model = "gpt2"` with tokens and merges ("a b"), and
//    `tokenizer.ggml.pre` chosen from the pre-tokenizer regex: "gpt-2" (the
//    ByteLevel built-in regex), "llama-bpe" (Llama-3's), "qwen2" (Qwen2's);
//    another regex is an error that quotes it.
// Token types: added tokens marked special are CONTROL (3), other added tokens
// USER_DEFINED (4), the unk token UNKNOWN (2), "<0xXX>" BYTE (6), ids the
// tokenizer leaves unused (up to the embedding's row count) UNUSED (5) named
// "[PAD<id>]", everything else NORMAL (1). BOS/EOS/UNK/PAD ids, add_bos_token
// and add_eos_token come from tokenizer_config.json, then config.json and
// generation_config.json; `tokenizer.chat_template` is kept when
// tokenizer_config.json has one (named templates become
// `tokenizer.chat_template.<name>`, "default" the plain key).
// Errors name the file: missing tokenizer.json, a non-BPE model (Unigram,
// WordPiece), an unknown pre-tokenizer, more tokens than embedding rows.
// Thread safety: re-entrant.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tandem/gguf/writer.h"

namespace tandem::convert {

// n_vocab: rows of the model's embedding matrix (the GGUF token count).
// Appends human-readable notes (defaults taken, keys ignored) to `notes`.
void add_hf_tokenizer(gguf::Writer& w, const std::string& folder, int64_t n_vocab,
                      std::vector<std::string>& notes);

}  // namespace tandem::convert
