#include "tandem/tokenizer/stream_decoder.h"

#include "tandem/tokenizer/unicode.h"

namespace tandem {

std::string TokenStreamDecoder::push(int32_t id) {
  tok_.append_decoded(id, at_start_, pending_);
  return drain(false);
}

std::string TokenStreamDecoder::finish() {
  std::string out = drain(true);
  at_start_ = true;
  return out;
}

std::string TokenStreamDecoder::drain(bool final) {
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    if (size_t n = unicode::valid_sequence_length(pending_, i)) {
      out.append(pending_, i, n);
      i += n;
      continue;
    }
    size_t k = unicode::viable_prefix_length(pending_, i);
    if (k == 0) {  // cannot start a character
      out += unicode::kReplacement;
      ++i;
      continue;
    }
    if (i + k == pending_.size() && !final) break;  // may still complete
    out += unicode::kReplacement;
    i += k;
  }
  pending_.erase(0, i);
  return out;
}

}  // namespace tandem
