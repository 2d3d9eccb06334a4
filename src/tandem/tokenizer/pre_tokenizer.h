// PreTokenizer — splits text into the pieces that byte-level BPE encodes one
// at a time, by a sequence of regular expressions (PCRE2, UTF + UCP, JIT).
//
// Contract: each expression is applied in turn to every piece the previous
// ones produced; both its matches and the text between matches become pieces
// (Hugging Face `Split` with behaviour "isolated"). Each piece is matched on
// its own, so `$` and look-ahead see only that piece. The pieces always cover
// the input exactly, in order, whatever the bytes: invalid UTF-8 is never
// matched by an expression and ends up in the gaps between matches.
// create() knows the `tokenizer.ggml.pre` names listed by supported_names().
// Ownership: owns the compiled expressions; pieces are views into the input.
// Thread safety: immutable after construction; split() may be called from any
// number of threads (each call uses its own match data and JIT stack).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tandem {

class PreTokenizer {
 public:
  // nullptr when `name` is not a known pre-tokenizer.
  static std::unique_ptr<PreTokenizer> create(std::string_view name);
  // Throws tandem::Error when an expression does not compile.
  explicit PreTokenizer(const std::vector<std::string>& patterns);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // Comma-separated list for error messages.
  static std::string supported_names();
  // True for pre-tokenizers whose BPE takes a whole piece that is a token as is
  // (Hugging Face `ignore_merges`, Llama 3).
  static bool ignores_merges(std::string_view name);

  // Appends the pieces of `text` to `out`.
  void split(std::string_view text, std::vector<std::string_view>& out) const;

 private:
  struct Regex;
  std::vector<std::unique_ptr<Regex>> regexes_;
};

}  // namespace tandem
