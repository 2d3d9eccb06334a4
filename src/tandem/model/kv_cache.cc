#include "tandem/model/kv_cache.h"

#include <algorithm>

#include "tandem/base/error.h"

namespace tandem {

KvCache::KvCache(const ModelConfig& c, int64_t n_ctx, int max_sequences)
    : n_layer_(c.n_layer),
      n_head_kv_(c.n_head_kv),
      head_dim_(c.head_dim),
      n_ctx_(n_ctx),
      seqs_(max_sequences) {
  if (n_ctx <= 0) fail("context size must be positive, got {}", n_ctx);
  if (max_sequences <= 0) fail("the KV cache needs room for at least one sequence");
}

void KvCache::check_sequence(int seq) const {
  if (seq < 0 || seq >= static_cast<int>(seqs_.size()))
    fail("sequence id {} is out of range (the KV cache holds sequences 0..{})", seq,
         seqs_.size() - 1);
}

const KvCache::Sequence& KvCache::at(int seq) const {
  check_sequence(seq);
  return seqs_[seq];
}

KvCache::Sequence& KvCache::ensure(int seq) {
  check_sequence(seq);
  Sequence& s = seqs_[seq];
  if (!s.data) {
    s.data = std::make_unique<float[]>(n_layer_ * 2 * n_head_kv_ * n_ctx_ * head_dim_);
    s.length.assign(n_layer_, 0);
  }
  return s;
}

int64_t KvCache::length(int seq) const {
  const Sequence& s = at(seq);
  return s.length.empty() ? 0 : *std::min_element(s.length.begin(), s.length.end());
}

int64_t KvCache::length(int seq, int64_t layer) const {
  const Sequence& s = at(seq);
  TANDEM_CHECK(layer >= 0 && layer < n_layer_, "layer {} out of range", layer);
  return s.length.empty() ? 0 : s.length[layer];
}

void KvCache::truncate(int seq, int64_t n_tokens) {
  check_sequence(seq);
  if (n_tokens < 0) fail("cannot truncate sequence {} to {} tokens", seq, n_tokens);
  for (int64_t& len : seqs_[seq].length) len = std::min(len, n_tokens);
}

void KvCache::set_length(int seq, int64_t layer, int64_t new_length) {
  Sequence& s = ensure(seq);
  TANDEM_CHECK(new_length >= 0 && new_length <= n_ctx_ && layer >= 0 && layer < n_layer_,
               "length {} of layer {} outside 0..{}", new_length, layer, n_ctx_);
  s.length[layer] = new_length;
}

float* KvCache::head_ptr(int seq, int64_t layer, int kind, int64_t head) const {
  TANDEM_CHECK(layer >= 0 && layer < n_layer_ && head >= 0 && head < n_head_kv_,
               "layer {} / KV head {} out of range", layer, head);
  const Sequence& s = seqs_[seq];
  return s.data.get() + ((layer * 2 + kind) * n_head_kv_ + head) * n_ctx_ * head_dim_;
}

float* KvCache::key(int seq, int64_t layer, int64_t head) {
  ensure(seq);
  return head_ptr(seq, layer, 0, head);
}
float* KvCache::value(int seq, int64_t layer, int64_t head) {
  ensure(seq);
  return head_ptr(seq, layer, 1, head);
}
const float* KvCache::key(int seq, int64_t layer, int64_t head) const {
  TANDEM_CHECK(at(seq).data != nullptr, "sequence {} has no cache", seq);
  return head_ptr(seq, layer, 0, head);
}
const float* KvCache::value(int seq, int64_t layer, int64_t head) const {
  TANDEM_CHECK(at(seq).data != nullptr, "sequence {} has no cache", seq);
  return head_ptr(seq, layer, 1, head);
}

}  // namespace tandem
