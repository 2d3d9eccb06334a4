// Byte-level BPE ("gpt2" vocabularies): the pre-tokenizer cuts the text into
// pieces; each piece starts as one symbol per byte (the token of that byte's
// GPT-2 code point) and the adjacent pair with the lowest merge rank is merged,
// leftmost first on ties, until no pair has a merge. A priority queue holds the
// candidate pairs; stale entries are recognised by the ids they recorded.
#include <queue>

#include "tandem/tokenizer/pre_tokenizer.h"
#include "tandem/tokenizer/tokenizer.h"
#include "tandem/tokenizer/unicode.h"

namespace tandem {

namespace {

struct Symbol {
  int32_t id;  // -1: a byte with no token
  int32_t prev;
  int32_t next;
  bool dead;
};

struct Candidate {
  int32_t rank;
  int32_t left;
  int32_t left_id;
  int32_t right_id;
  int32_t result;
};

struct Later {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

}  // namespace

void Tokenizer::encode_bpe(std::string_view text, std::vector<int32_t>& out) const {
  std::vector<std::string_view> pieces;
  pre_->split(text, pieces);
  for (std::string_view p : pieces) bpe_piece(p, out);
}

void Tokenizer::bpe_piece(std::string_view piece, std::vector<int32_t>& out) const {
  auto emit = [&](int32_t id) {
    if (id >= 0)
      out.push_back(id);
    else if (unk_ >= 0 && vocab_.type[unk_] == TokenType::kUnknown)
      out.push_back(unk_);  // a byte the vocabulary lacks (else it is dropped)
  };
  if (piece.size() == 1) {
    emit(byte_token_[static_cast<uint8_t>(piece[0])]);
    return;
  }
  if (ignore_merges_) {
    std::string mapped;
    for (char c : piece) mapped += unicode::byte_to_utf8(static_cast<uint8_t>(c));
    int32_t id = vocab_.find(mapped);
    if (id >= 0 && vocab_.type[id] == TokenType::kNormal) {
      out.push_back(id);
      return;
    }
  }

  const int32_t n = static_cast<int32_t>(piece.size());
  std::vector<Symbol> sym(n);
  for (int32_t i = 0; i < n; ++i)
    sym[i] = {byte_token_[static_cast<uint8_t>(piece[i])], i - 1, i + 1 < n ? i + 1 : -1, false};

  std::priority_queue<Candidate, std::vector<Candidate>, Later> queue;
  auto try_pair = [&](int32_t l) {
    if (l < 0) return;
    int32_t r = sym[l].next;
    if (r < 0 || sym[l].id < 0 || sym[r].id < 0) return;
    uint64_t key = (static_cast<uint64_t>(sym[l].id) << 32) | static_cast<uint32_t>(sym[r].id);
    auto it = merges_.find(key);
    if (it != merges_.end())
      queue.push({it->second.rank, l, sym[l].id, sym[r].id, it->second.result});
  };
  for (int32_t i = 0; i + 1 < n; ++i) try_pair(i);

  while (!queue.empty()) {
    Candidate c = queue.top();
    queue.pop();
    Symbol& l = sym[c.left];
    if (l.dead || l.id != c.left_id || l.next < 0) continue;
    Symbol& r = sym[l.next];
    if (r.id != c.right_id) continue;
    l.id = c.result;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = c.left;
    r.dead = true;
    try_pair(l.prev);
    try_pair(c.left);
  }
  for (int32_t i = 0; i >= 0; i = sym[i].next) emit(sym[i].id);
}

}  // namespace tandem
