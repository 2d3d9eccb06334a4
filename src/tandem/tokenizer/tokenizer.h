// Tokenizer — text <-> token ids for a model, built from the GGUF metadata
// `tokenizer.ggml.*` (llama.cpp conventions).
//
// Two families:
//  - "llama": SentencePiece-style BPE. Merges the highest-scoring pair first
//    (`tokenizer.ggml.scores`); spaces are U+2581 "▁"; a "▁" is put in front of
//    the text (`tokenizer.ggml.add_space_prefix`, default true) and after special
//    tokens; characters with no token go through byte-fallback tokens `<0xXX>`
//    (or the unknown token when there are none).
//  - "gpt2": byte-level BPE. The text is split by the pre-tokenizer named in
//    `tokenizer.ggml.pre` (see PreTokenizer), each piece's bytes are mapped to
//    GPT-2's printable code points and merged by `tokenizer.ggml.merges` rank.
// Special tokens: user-defined tokens (type 4) are always matched in the text,
// control (3) and unknown (2) tokens only when parse_special is on; at each
// position the longest one wins and the text around it is tokenized normally.
//
// Losslessness: for "gpt2" decode(encode(s)) == s for every byte string s. For
// "llama" it holds for every byte string too when no special token is matched
// (decode undoes the leading "▁" of the first piece, as SentencePiece does); the
// "▁" put after a matched special token in the middle of the text is not undone.
//
// Ownership: from_gguf() copies everything it needs; the File may be closed.
// Thread safety: immutable after construction; const methods are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tandem/gguf/reader.h"
#include "tandem/tokenizer/vocab.h"

namespace tandem {

class PreTokenizer;

class Tokenizer {
 public:
  enum class Kind { kSpm, kBpe };

  // Throws tandem::Error naming the file, key and value on bad input, e.g.
  // "model.gguf: tokenizer.ggml.pre 'foo' is not supported (supported: ...)".
  static std::unique_ptr<Tokenizer> from_gguf(const gguf::File& file);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // add_special: BOS / EOS as add_bos() / add_eos() say. parse_special: match
  // control tokens' text (e.g. "<|im_end|>") in `text`.
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;
  // The text of `ids` (control tokens render as nothing); raw bytes, which may
  // be invalid UTF-8 when the ids are.
  std::string decode(std::span<const int32_t> ids) const;
  // The raw bytes token `id` stands for: byte tokens give that byte; control and
  // unknown tokens give "" unless `render_special`, then their text. Spaces are
  // real spaces. Out-of-range ids give "".
  std::string piece(int32_t id, bool render_special = false) const;
  // Building block of decode() and TokenStreamDecoder: appends the text of `id`
  // to `out`. `at_start` is true before the first token that produced text; it
  // decides whether the "llama" leading space is dropped, and is updated.
  void append_decoded(int32_t id, bool& at_start, std::string& out) const;

  int32_t n_vocab() const { return vocab_.size(); }
  int32_t bos() const { return bos_; }  // -1 if none
  int32_t eos() const { return eos_; }  // -1 if none
  int32_t unk() const { return unk_; }  // -1 if none
  int32_t pad() const { return pad_; }  // -1 if none
  int32_t eot() const { return eot_; }  // -1 if none
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  bool add_space_prefix() const { return add_space_prefix_; }
  // eos, tokenizer.ggml.eot_token_id / eom_token_id, and control tokens such as
  // "<|eot_id|>", "<|im_end|>", "<|end|>", "<|endoftext|>".
  bool is_end_of_generation(int32_t id) const;
  bool is_control(int32_t id) const;
  TokenType token_type(int32_t id) const;
  // The token's text exactly as stored in the vocabulary ("" when out of range).
  const std::string& token_text(int32_t id) const;
  // Token id of exactly this vocabulary text, or -1.
  int32_t find_token(std::string_view text) const { return vocab_.find(text); }

  const std::string& chat_template() const { return chat_template_; }  // "" if absent
  const std::string& model_name() const { return model_name_; }        // "llama" / "gpt2"
  const std::string& pre_name() const { return pre_name_; }            // "" if absent
  Kind kind() const { return kind_; }

 private:
  Tokenizer() = default;
  // One stretch of text between special tokens.
  void encode_spm(std::string_view text, bool prefix_space, std::vector<int32_t>& out) const;
  void encode_bpe(std::string_view text, std::vector<int32_t>& out) const;
  void bpe_piece(std::string_view piece, std::vector<int32_t>& out) const;
  // Longest special token that starts at text[pos], or -1.
  int32_t match_special(std::string_view text, size_t pos, bool parse_special) const;

  struct Merge {
    int32_t rank;
    int32_t result;
  };

  Kind kind_ = Kind::kSpm;
  Vocab vocab_;
  std::string model_name_, pre_name_, chat_template_;
  int32_t bos_ = -1, eos_ = -1, unk_ = -1, pad_ = -1, eot_ = -1;
  bool add_bos_ = false, add_eos_ = false, add_space_prefix_ = false;
  int32_t byte_token_[256];   // byte-fallback (spm) / mapped-byte (bpe) token, -1 if none
  std::vector<uint8_t> eog_;  // per id
  // Special tokens by first byte, longest first.
  std::vector<int32_t> specials_[2][256];  // [0]: user-defined only, [1]: + control, unknown
  // BPE: (left id << 32 | right id) -> merge.
  std::unordered_map<uint64_t, Merge> merges_;
  std::unique_ptr<PreTokenizer> pre_;
  bool ignore_merges_ = false;
  // SPM: no mergeable token has "▁" right after another character, so words
  // starting at a "▁" run can be merged independently (see spm_tokenizer.cc).
  bool spm_split_at_spaces_ = false;
};

}  // namespace tandem
