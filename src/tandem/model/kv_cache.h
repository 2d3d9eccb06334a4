// KvCache — per-sequence key/value cache of every layer of one model.
//
// Contract: holds up to `max_sequences` independent sequences (ids 0..max-1),
// each with room for `n_ctx` tokens. A sequence's storage is allocated on its
// first use. Each layer of a sequence has its own length (a forward pass over a
// layer range [b, e) appends to layers b..e-1 only, which lets early-layer
// speculation run the first layers of a token ahead of the rest);
// length(seq) is the number of tokens every layer holds (the minimum).
// truncate(seq, n) forgets everything from token n on, in every layer, in
// O(n_layer) — that is how rejected drafts and rollbacks are undone — and
// clear(seq) is truncate(seq, 0).
// Layout: for each (sequence, layer) a K and a V block of (n_head_kv, n_ctx, head_dim)
// f32: one KV head's positions are contiguous, so attention streams them.
// Thread safety: not thread-safe; the forward pass writes to disjoint slots from
// several threads but the object itself is owned by one caller at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "tandem/model/config.h"

namespace tandem {

class KvCache {
 public:
  KvCache(const ModelConfig& config, int64_t n_ctx, int max_sequences);

  int64_t n_ctx() const { return n_ctx_; }
  int max_sequences() const { return static_cast<int>(seqs_.size()); }
  int64_t length(int seq) const;
  int64_t length(int seq, int64_t layer) const;
  void truncate(int seq, int64_t n_tokens);
  void clear(int seq) { truncate(seq, 0); }

  // KV head `head` of layer `layer`'s keys / values for `seq`: (n_ctx, head_dim)
  // rows, row s holding position slot s.
  float* key(int seq, int64_t layer, int64_t head);
  float* value(int seq, int64_t layer, int64_t head);
  const float* key(int seq, int64_t layer, int64_t head) const;
  const float* value(int seq, int64_t layer, int64_t head) const;

  // Used by the forward pass: allocate() before threads write slots (storage is
  // created on first use), set_length() after it has written a layer's slots
  // [length, new_length).
  void allocate(int seq) { ensure(seq); }
  void set_length(int seq, int64_t layer, int64_t new_length);
  void check_sequence(int seq) const;

 private:
  struct Sequence {
    std::vector<int64_t> length;    // (n_layer), empty until allocated
    std::unique_ptr<float[]> data;  // (n_layer, 2, n_head_kv, n_ctx, head_dim)
  };
  Sequence& ensure(int seq);
  const Sequence& at(int seq) const;
  float* head_ptr(int seq, int64_t layer, int kind, int64_t head) const;

  int64_t n_layer_;
  int64_t n_head_kv_;
  int64_t head_dim_;
  int64_t n_ctx_;
  mutable std::vector<Sequence> seqs_;
};

}  // namespace tandem
