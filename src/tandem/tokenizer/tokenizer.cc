#include "tandem/tokenizer/tokenizer.h"

#include <algorithm>

#include "tandem/base/error.h"
#include "tandem/tokenizer/pre_tokenizer.h"
#include "tandem/tokenizer/unicode.h"

namespace tandem {

namespace {

// Control tokens that end a turn in common chat formats.
constexpr std::string_view kEndOfTurnTexts[] = {
    "<|eot_id|>", "<|im_end|>",    "<|end|>",         "<|endoftext|>",
    "<|eom_id|>", "<end_of_turn>", "<|end_of_text|>", "<EOT>",
};

// Parses "<0xXX>"; -1 when `t` is not a byte token's text.
int parse_byte_token(std::string_view t) {
  if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return -1;
  int v = 0;
  for (char c : t.substr(3, 2)) {
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= c - '0';
    else if (c >= 'A' && c <= 'F')
      v |= c - 'A' + 10;
    else if (c >= 'a' && c <= 'f')
      v |= c - 'a' + 10;
    else
      return -1;
  }
  return v;
}

}  // namespace

Tokenizer::~Tokenizer() = default;

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const gguf::File& file) {
  const std::string& path = file.path();
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  if (!file.find("tokenizer.ggml.model"))
    fail("{}: metadata key 'tokenizer.ggml.model' is missing (the file has no tokenizer)", path);
  t->model_name_ = file.get_string("tokenizer.ggml.model");
  if (t->model_name_ == "llama") {
    t->kind_ = Kind::kSpm;
  } else if (t->model_name_ == "gpt2") {
    t->kind_ = Kind::kBpe;
  } else {
    fail("{}: tokenizer.ggml.model '{}' is not supported (supported: llama, gpt2)", path,
         t->model_name_);
  }
  t->pre_name_ = file.get_string("tokenizer.ggml.pre", "");
  t->vocab_ = Vocab::from_gguf(file);
  const Vocab& v = t->vocab_;
  const int32_t n = v.size();

  if (t->kind_ == Kind::kBpe) {
    std::string pre = t->pre_name_.empty() ? "default" : t->pre_name_;
    t->pre_ = PreTokenizer::create(pre);
    if (!t->pre_)
      fail("{}: tokenizer.ggml.pre '{}' is not supported (supported: {})", path, pre,
           PreTokenizer::supported_names());
    t->ignore_merges_ = PreTokenizer::ignores_merges(pre);
  } else if (!file.find("tokenizer.ggml.scores")) {
    fail(
        "{}: metadata key 'tokenizer.ggml.scores' is missing (required for "
        "tokenizer.ggml.model 'llama')",
        path);
  }

  auto token_id = [&](const char* key, bool strict) -> int32_t {
    int64_t id = file.get_int(key, -1);
    if (id == -1) return -1;
    if (id < 0 || id >= n) {
      if (!strict) return -1;
      fail("{}: {} is {}, outside the vocabulary (0..{})", path, key, id, n - 1);
    }
    return static_cast<int32_t>(id);
  };
  t->bos_ = token_id("tokenizer.ggml.bos_token_id", true);
  t->eos_ = token_id("tokenizer.ggml.eos_token_id", true);
  t->unk_ = token_id("tokenizer.ggml.unknown_token_id", true);
  t->pad_ = token_id("tokenizer.ggml.padding_token_id", false);
  t->eot_ = token_id("tokenizer.ggml.eot_token_id", true);
  int32_t eom = token_id("tokenizer.ggml.eom_token_id", false);
  bool spm = t->kind_ == Kind::kSpm;
  t->add_bos_ = file.get_bool("tokenizer.ggml.add_bos_token", spm) && t->bos_ >= 0;
  t->add_eos_ = file.get_bool("tokenizer.ggml.add_eos_token", false) && t->eos_ >= 0;
  t->add_space_prefix_ = spm && file.get_bool("tokenizer.ggml.add_space_prefix", true);
  t->chat_template_ = file.get_string("tokenizer.chat_template", "");

  // Byte tokens.
  for (int b = 0; b < 256; ++b) t->byte_token_[b] = -1;
  if (spm) {
    for (int32_t id = 0; id < n; ++id) {
      if (v.type[id] != TokenType::kByte) continue;
      int b = parse_byte_token(v.text[id]);
      if (b >= 0 && t->byte_token_[b] < 0) t->byte_token_[b] = id;
    }
  } else {
    // Only normal tokens stand for bytes: a user-defined token with the same
    // text (deepseek-coder adds the code points of bytes that never occur in
    // UTF-8) stands for its text, as it was matched in training data.
    for (int b = 0; b < 256; ++b) {
      int32_t id = v.find(unicode::byte_to_utf8(b));
      if (id >= 0 && (v.type[id] == TokenType::kNormal || v.type[id] == TokenType::kUndefined))
        t->byte_token_[b] = id;
    }
  }

  if (spm) {
    t->spm_split_at_spaces_ = true;
    const std::string_view sp = unicode::kSpmSpace;
    for (int32_t id = 0; id < n && t->spm_split_at_spaces_; ++id) {
      TokenType ty = v.type[id];
      if (ty != TokenType::kNormal && ty != TokenType::kUserDefined && ty != TokenType::kUndefined)
        continue;
      std::string_view s = v.text[id];
      for (size_t at = s.find(sp, 1); at != std::string_view::npos; at = s.find(sp, at + 1)) {
        if (at >= 3 && s.substr(at - 3, 3) == sp) continue;
        t->spm_split_at_spaces_ = false;  // "x▁": merges may cross a word start
        break;
      }
    }
  }

  // Special tokens, longest first per leading byte.
  for (int32_t id = 0; id < n; ++id) {
    TokenType ty = v.type[id];
    const std::string& s = v.text[id];
    if (s.empty()) continue;
    uint8_t first = static_cast<uint8_t>(s[0]);
    if (ty == TokenType::kUserDefined) {
      t->specials_[0][first].push_back(id);
      t->specials_[1][first].push_back(id);
    } else if (ty == TokenType::kControl || ty == TokenType::kUnknown) {
      t->specials_[1][first].push_back(id);
    }
  }
  for (auto& table : t->specials_)
    for (auto& list : table)
      std::stable_sort(list.begin(), list.end(),
                       [&](int32_t a, int32_t b) { return v.text[a].size() > v.text[b].size(); });

  // End of generation.
  t->eog_.assign(n, 0);
  if (t->eos_ >= 0) t->eog_[t->eos_] = 1;
  if (t->eot_ >= 0) t->eog_[t->eot_] = 1;
  if (eom >= 0) t->eog_[eom] = 1;
  for (std::string_view s : kEndOfTurnTexts) {
    int32_t id = v.find(s);
    if (id >= 0 && v.type[id] == TokenType::kControl) {
      t->eog_[id] = 1;
      if (t->eot_ < 0 && s != "<|endoftext|>" && s != "<|end_of_text|>") t->eot_ = id;
    }
  }

  // BPE merges.
  if (!spm) {
    const gguf::Value* m = file.find("tokenizer.ggml.merges");
    if (!m)
      fail(
          "{}: metadata key 'tokenizer.ggml.merges' is missing (required for "
          "tokenizer.ggml.model 'gpt2')",
          path);
    auto merges = m->as_string_array(path + ": metadata key 'tokenizer.ggml.merges'");
    t->merges_.reserve(merges.size());
    std::string joined;
    for (size_t i = 0; i < merges.size(); ++i) {
      const std::string& s = merges[i];
      size_t sp = s.find(' ', 1);
      if (sp == std::string::npos || sp + 1 >= s.size())
        fail("{}: tokenizer.ggml.merges[{}] '{}' is not two tokens separated by a space", path, i,
             s);
      std::string_view left(s.data(), sp), right(s.data() + sp + 1, s.size() - sp - 1);
      joined.assign(left);
      joined.append(right);
      int32_t a = v.find(left), b = v.find(right), r = v.find(joined);
      if (a < 0 || b < 0 || r < 0) continue;  // unreachable merge
      uint64_t key = (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b);
      t->merges_.emplace(key, Merge{static_cast<int32_t>(i), r});
    }
  }
  return t;
}

int32_t Tokenizer::match_special(std::string_view text, size_t pos, bool parse_special) const {
  const auto& list = specials_[parse_special ? 1 : 0][static_cast<uint8_t>(text[pos])];
  std::string_view rest = text.substr(pos);
  for (int32_t id : list)
    if (rest.starts_with(vocab_.text[id])) return id;
  return -1;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special && add_bos_) out.push_back(bos_);
  bool after_special = true;  // the "▁" prefix goes at the start and after special tokens
  auto flush = [&](std::string_view frag) {
    if (frag.empty()) return;
    if (kind_ == Kind::kSpm)
      encode_spm(frag, add_space_prefix_ && after_special, out);
    else
      encode_bpe(frag, out);
    after_special = false;
  };
  const auto& table = specials_[parse_special ? 1 : 0];
  size_t start = 0;
  for (size_t pos = 0; pos < text.size();) {
    if (table[static_cast<uint8_t>(text[pos])].empty()) {
      ++pos;
      continue;
    }
    int32_t id = match_special(text, pos, parse_special);
    if (id < 0) {
      ++pos;
      continue;
    }
    flush(text.substr(start, pos - start));
    out.push_back(id);
    after_special = true;
    pos += vocab_.text[id].size();
    start = pos;
  }
  flush(text.substr(start));
  if (add_special && add_eos_) out.push_back(eos_);
  return out;
}

std::string Tokenizer::piece(int32_t id, bool render_special) const {
  if (!vocab_.valid(id)) return {};
  const std::string& t = vocab_.text[id];
  switch (vocab_.type[id]) {
    case TokenType::kControl:
    case TokenType::kUnknown:
    case TokenType::kUnused:
      return render_special ? t : std::string();
    case TokenType::kUserDefined:
      return t;
    case TokenType::kByte:
      if (kind_ == Kind::kSpm) {
        int b = parse_byte_token(t);
        if (b >= 0) return std::string(1, static_cast<char>(b));
      }
      break;
    default:
      break;
  }
  std::string out;
  out.reserve(t.size());
  if (kind_ == Kind::kSpm) {
    for (size_t i = 0; i < t.size();) {
      if (std::string_view(t).substr(i, 3) == unicode::kSpmSpace) {
        out += ' ';
        i += 3;
      } else {
        out += t[i++];
      }
    }
    return out;
  }
  // Byte-level: every code point of the mapping stands for one byte; anything
  // else (not expected in such vocabularies) is kept as it is.
  for (size_t i = 0; i < t.size();) {
    size_t n = unicode::valid_sequence_length(t, i);
    int b = n ? unicode::byte_from_codepoint(unicode::decode_at(t, i, n)) : -1;
    if (b >= 0) {
      out += static_cast<char>(b);
    } else {
      n = std::max<size_t>(n, 1);
      out.append(t, i, n);
    }
    i += n;
  }
  return out;
}

void Tokenizer::append_decoded(int32_t id, bool& at_start, std::string& out) const {
  std::string p = piece(id);
  if (p.empty()) return;
  size_t skip = (at_start && add_space_prefix_ && p[0] == ' ') ? 1 : 0;
  out.append(p, skip);
  at_start = false;
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  bool at_start = true;
  for (int32_t id : ids) append_decoded(id, at_start, out);
  return out;
}

bool Tokenizer::is_end_of_generation(int32_t id) const {
  return vocab_.valid(id) && eog_[id];
}

bool Tokenizer::is_control(int32_t id) const {
  return vocab_.valid(id) && vocab_.type[id] == TokenType::kControl;
}

TokenType Tokenizer::token_type(int32_t id) const {
  return vocab_.valid(id) ? vocab_.type[id] : TokenType::kUndefined;
}

const std::string& Tokenizer::token_text(int32_t id) const {
  static const std::string empty;
  return vocab_.valid(id) ? vocab_.text[id] : empty;
}

}  // namespace tandem
