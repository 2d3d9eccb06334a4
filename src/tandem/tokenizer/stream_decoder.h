// TokenStreamDecoder — turns generated token ids into text one id at a time.
//
// Contract: push() returns only complete, valid UTF-8. Bytes of a character
// split across byte tokens are held back until the character is complete; a
// byte sequence that can no longer become valid is emitted as one U+FFFD per
// maximal invalid subpart. finish() flushes what is held back (an incomplete
// tail becomes U+FFFD). For ids whose decode() is valid UTF-8, the
// concatenation of every push() and finish() equals Tokenizer::decode(ids),
// the "llama" leading-space rule included.
// Ownership: keeps a reference to the Tokenizer, which must outlive it.
// Thread safety: none (one decoder per sequence); the Tokenizer may be shared.
#pragma once

#include <cstdint>
#include <string>

#include "tandem/tokenizer/tokenizer.h"

namespace tandem {

class TokenStreamDecoder {
 public:
  explicit TokenStreamDecoder(const Tokenizer& t) : tok_(t) {}

  std::string push(int32_t id);
  // Whatever is held back (invalid or incomplete bytes -> U+FFFD); the decoder
  // then starts over as if new.
  std::string finish();
  // Bytes currently held back.
  size_t pending() const { return pending_.size(); }

 private:
  std::string drain(bool final);

  const Tokenizer& tok_;
  bool at_start_ = true;
  std::string pending_;
};

}  // namespace tandem
