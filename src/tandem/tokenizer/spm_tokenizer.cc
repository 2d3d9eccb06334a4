// SentencePiece-style BPE ("llama" vocabularies): the text is cut into UTF-8
// characters (an invalid byte is a character of its own), then the adjacent
// pair whose concatenation is the highest-scoring token is merged, leftmost
// first on ties, until no pair forms a token. A priority queue holds the
// candidate pairs; stale entries are recognised by the lengths they recorded,
// so each merge costs O(log n). Characters that are not tokens become their
// byte-fallback tokens.
#include <queue>

#include "tandem/tokenizer/tokenizer.h"
#include "tandem/tokenizer/unicode.h"

namespace tandem {

namespace {

struct Symbol {
  uint32_t start;
  uint32_t len;  // 0: merged into its left neighbour
  int32_t id;    // token of this text, -1 if none (a character without a token)
  int32_t prev;
  int32_t next;
};

struct Candidate {
  float score;
  int32_t id;
  int32_t left;
  uint32_t left_len;
  uint32_t right_len;
};

struct Lower {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

void Tokenizer::encode_spm(std::string_view text, bool prefix_space,
                           std::vector<int32_t>& out) const {
  std::string norm;
  norm.reserve(text.size() + 3 + text.size() / 4);
  if (prefix_space) norm += unicode::kSpmSpace;
  for (char c : text) {
    if (c == ' ')
      norm += unicode::kSpmSpace;
    else
      norm += c;
  }

  auto mergeable = [&](uint32_t start, uint32_t len) -> int32_t {
    int32_t id = vocab_.find(std::string_view(norm).substr(start, len));
    if (id < 0) return -1;
    TokenType t = vocab_.type[id];
    return (t == TokenType::kNormal || t == TokenType::kUserDefined || t == TokenType::kUndefined)
               ? id
               : -1;
  };

  // Independent segments: when no token has "▁" after another character
  // (spm_split_at_spaces_), no merge can cross the start of a "▁" run, so each
  // word is merged on its own: same result, small cache-friendly queues.
  std::vector<Symbol> sym;
  std::vector<Candidate> storage;
  std::string_view sp = unicode::kSpmSpace;
  size_t seg_begin = 0;
  while (seg_begin < norm.size()) {
    size_t seg_end = norm.size();
    if (spm_split_at_spaces_) {
      for (size_t at = norm.find(sp, seg_begin + 1); at != std::string::npos;
           at = norm.find(sp, at + 1)) {
        if (at >= seg_begin + 3 && std::string_view(norm).substr(at - 3, 3) == sp) continue;
        seg_end = at;
        break;
      }
    }

    sym.clear();
    for (size_t i = seg_begin; i < seg_end;) {
      size_t n = unicode::valid_sequence_length(norm, i);
      if (n == 0) n = 1;
      int32_t idx = static_cast<int32_t>(sym.size());
      sym.push_back({static_cast<uint32_t>(i), static_cast<uint32_t>(n),
                     mergeable(static_cast<uint32_t>(i), static_cast<uint32_t>(n)), idx - 1,
                     idx + 1});
      i += n;
    }
    sym.back().next = -1;

    storage.clear();
    std::priority_queue<Candidate, std::vector<Candidate>, Lower> queue(Lower{},
                                                                        std::move(storage));
    auto try_pair = [&](int32_t l) {
      if (l < 0) return;
      int32_t r = sym[l].next;
      if (r < 0) return;
      int32_t id = mergeable(sym[l].start, sym[l].len + sym[r].len);
      if (id >= 0) queue.push({vocab_.score[id], id, l, sym[l].len, sym[r].len});
    };
    for (int32_t i = 0; i + 1 < static_cast<int32_t>(sym.size()); ++i) try_pair(i);

    while (!queue.empty()) {
      Candidate c = queue.top();
      queue.pop();
      Symbol& l = sym[c.left];
      if (l.len != c.left_len || l.next < 0) continue;
      Symbol& r = sym[l.next];
      if (r.len != c.right_len) continue;
      l.len += r.len;
      l.id = c.id;
      l.next = r.next;
      if (r.next >= 0) sym[r.next].prev = c.left;
      r.len = 0;
      try_pair(l.prev);
      try_pair(c.left);
    }

    for (int32_t i = 0; i >= 0; i = sym[i].next) {
      if (sym[i].id >= 0) {
        out.push_back(sym[i].id);
        continue;
      }
      for (uint32_t k = 0; k < sym[i].len; ++k) {
        int32_t b = byte_token_[static_cast<uint8_t>(norm[sym[i].start + k])];
        if (b >= 0)
          out.push_back(b);
        else if (unk_ >= 0 && vocab_.type[unk_] == TokenType::kUnknown)
          out.push_back(unk_);
      }
    }
    seg_begin = seg_end;
  }
}

}  // namespace tandem
