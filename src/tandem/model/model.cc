#include "tandem/model/model.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "tandem/base/error.h"
#include "tandem/gguf/reader.h"
#include "tandem/kernels/cpu/elementwise.h"
#include "tandem/tensor/quantize.h"

namespace tandem {

Model::~Model() = default;

std::unique_ptr<Model> Model::load(const std::string& path) {
  std::unique_ptr<Model> m(new Model());
  m->file_ = gguf::File::open(path);
  m->config_ = ModelConfig::from_gguf(*m->file_);
  m->weights_ = Weights::bind(*m->file_, m->config_);
  return m;
}

KvCache Model::make_cache(int64_t n_ctx, int max_sequences) const {
  return KvCache(config_, n_ctx, max_sequences);
}

namespace {

// Tokens per chunk for a per-token loop over the pool: waking the workers costs
// about as much as ~64K simple float operations, so a batch of a few tokens
// (speculative verification, batched decode of a small model) runs inline.
int64_t token_grain(int64_t ops_per_token) {
  return std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(1, ops_per_token));
}

void grow(std::vector<float>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(n);
}

// Validates a batch against the cache and returns the total token count.
int64_t check_batch(std::span<const SequenceInput> batch, const KvCache& cache,
                    const ModelConfig& c, int64_t layer_begin, int64_t layer_end) {
  int64_t total = 0;
  for (size_t e = 0; e < batch.size(); ++e) {
    const SequenceInput& in = batch[e];
    cache.check_sequence(in.seq);
    for (size_t o = 0; o < e; ++o)
      if (batch[o].seq == in.seq) fail("sequence {} appears twice in one batch", in.seq);
    if (in.tokens.empty()) fail("batch entry for sequence {} has no tokens", in.seq);
    if (!in.positions.empty() && in.positions.size() != in.tokens.size())
      fail("sequence {}: {} positions given for {} tokens", in.seq, in.positions.size(),
           in.tokens.size());
    const int64_t len = cache.length(in.seq, layer_begin);
    for (int64_t l = layer_begin + 1; l < layer_end; ++l)
      if (cache.length(in.seq, l) != len)
        fail(
            "sequence {}: layers {} and {} hold {} and {} tokens; a forward over layers [{}, {}) "
            "needs them equal (truncate first)",
            in.seq, layer_begin, l, len, cache.length(in.seq, l), layer_begin, layer_end);
    const int64_t n = static_cast<int64_t>(in.tokens.size());
    if (len + n > cache.n_ctx())
      fail("sequence {}: {} cached + {} new tokens exceed the context size {}", in.seq, len, n,
           cache.n_ctx());
    for (int32_t t : in.tokens)
      if (t < 0 || t >= c.n_vocab)
        fail("token id {} is out of range (vocabulary has {} tokens)", t, c.n_vocab);
    for (int32_t p : in.positions)
      if (p < 0) fail("sequence {}: negative position {}", in.seq, p);
    total += n;
  }
  return total;
}

}  // namespace

void Model::forward(std::span<const SequenceInput> batch, KvCache& cache, const ForwardOptions& opt,
                    ForwardOutput& out, ThreadPool& pool) {
  const ModelConfig& c = config_;
  const int64_t layer_end = opt.layer_end < 0 ? c.n_layer : opt.layer_end;
  if (opt.layer_begin < 0 || opt.layer_begin >= layer_end || layer_end > c.n_layer)
    fail("layer range [{}, {}) is invalid for a model with {} layers", opt.layer_begin, layer_end,
         c.n_layer);
  if (opt.hidden_layer >= 0 &&
      (opt.hidden_layer < opt.layer_begin || opt.hidden_layer >= layer_end))
    fail("hidden_layer {} is outside the layer range [{}, {})", opt.hidden_layer, opt.layer_begin,
         layer_end);
  const int64_t T = check_batch(batch, cache, c, opt.layer_begin, layer_end);
  const int64_t dim = c.dim, qd = c.q_dim(), kvd = c.kv_dim(), ffn = c.ffn_dim;

  grow(x_, T * dim);
  grow(h_, T * std::max(dim, qd));
  grow(q_, T * qd);
  grow(k_, T * kvd);
  grow(v_, T * kvd);
  grow(att_, T * qd);
  grow(gate_, T * ffn);
  grow(up_, T * ffn);
  tok_seq_.resize(T);
  tok_slot_.resize(T);
  tok_pos_.resize(T);
  tok_id_.resize(T);
  {
    int64_t t = 0;
    for (size_t e = 0; e < batch.size(); ++e) {
      const int64_t len = cache.length(batch[e].seq, opt.layer_begin);
      for (size_t i = 0; i < batch[e].tokens.size(); ++i, ++t) {
        tok_seq_[t] = static_cast<int64_t>(e);
        tok_id_[t] = batch[e].tokens[i];
        tok_slot_[t] = len + static_cast<int64_t>(i);
        tok_pos_[t] =
            batch[e].positions.empty() ? static_cast<int32_t>(len + i) : batch[e].positions[i];
      }
    }
  }

  for (const SequenceInput& in : batch) cache.allocate(in.seq);

  // Input: token embeddings, or the hidden state a previous layer range returned.
  if (opt.layer_begin == 0) {
    const kernels::MatView& E = weights_.token_embd;
    const int64_t rb = row_bytes(E.type, E.cols);
    for (int64_t t = 0; t < T; ++t) {
      dequantize_row(E.type, static_cast<const uint8_t*>(E.data) + tok_id_[t] * rb, &x_[t * dim],
                     dim);
    }
  } else {
    if (static_cast<int64_t>(opt.hidden_in.size()) != T * dim)
      fail("layer_begin {} needs hidden_in of {} x {} floats, got {}", opt.layer_begin, T, dim,
           opt.hidden_in.size());
    std::copy(opt.hidden_in.begin(), opt.hidden_in.end(), x_.begin());
  }

  const int64_t norm_grain = token_grain(3 * dim);
  const int64_t rope_grain = token_grain(4 * (qd + 2 * kvd));
  const int64_t swiglu_grain = token_grain(16 * ffn);  // an exp per element
  // Writes of new keys/values go beyond each sequence's current length; lengths
  // advance only once every layer has run, so a failure leaves the cache as it was.
  for (int64_t l = opt.layer_begin; l < layer_end; ++l) {
    const LayerWeights& L = weights_.layers[l];
    // --- attention block ---
    pool.parallel_for(T, norm_grain, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t)
        kernels::rmsnorm(&x_[t * dim], L.attn_norm.data(), &h_[t * dim], dim, c.rms_eps);
    });
    // Each matmul names the next one's matrices (their start is prefetched
    // while the call finishes): the order of a pass is fixed.
    const kernels::MatView qkv[3] = {L.wq, L.wk, L.wv};
    const kernels::MatView gate_up[2] = {L.w_gate, L.w_up};
    std::span<const kernels::MatView> after_down;
    kernels::MatView next_qkv[3];
    if (l + 1 < layer_end) {
      const LayerWeights& N = weights_.layers[l + 1];
      next_qkv[0] = N.wq, next_qkv[1] = N.wk, next_qkv[2] = N.wv;
      after_down = next_qkv;
    } else if (opt.logits != LogitsMode::kNone && layer_end == c.n_layer) {
      after_down = std::span<const kernels::MatView>(&weights_.output, 1);
    }
    float* const qkv_out[3] = {q_.data(), k_.data(), v_.data()};
    kernels::matmul_multi(qkv, h_.data(), T, qkv_out, pool, {&L.wo, 1});
    pool.parallel_for(T, rope_grain, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        float* q = &q_[t * qd];
        float* k = &k_[t * kvd];
        float* v = &v_[t * kvd];
        if (c.qkv_bias) {
          kernels::add(q, L.bq.data(), q, qd);
          kernels::add(k, L.bk.data(), k, kvd);
          kernels::add(v, L.bv.data(), v, kvd);
        }
        kernels::rope(q, c.n_head, c.head_dim, tok_pos_[t], c.rope_base, c.rope_freq_scale,
                      c.rope_neox);
        kernels::rope(k, c.n_head_kv, c.head_dim, tok_pos_[t], c.rope_base, c.rope_freq_scale,
                      c.rope_neox);
        const int seq = batch[tok_seq_[t]].seq;
        for (int64_t h = 0; h < c.n_head_kv; ++h) {
          const int64_t off = tok_slot_[t] * c.head_dim;
          std::memcpy(cache.key(seq, l, h) + off, k + h * c.head_dim, c.head_dim * sizeof(float));
          std::memcpy(cache.value(seq, l, h) + off, v + h * c.head_dim, c.head_dim * sizeof(float));
        }
      }
    });
    attention(batch, cache, l, pool);
    kernels::matmul(L.wo, att_.data(), T, h_.data(), pool, gate_up);
    kernels::add(x_.data(), h_.data(), x_.data(), T * dim);

    // --- feed-forward block ---
    pool.parallel_for(T, norm_grain, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t)
        kernels::rmsnorm(&x_[t * dim], L.ffn_norm.data(), &h_[t * dim], dim, c.rms_eps);
    });
    float* const gate_up_out[2] = {gate_.data(), up_.data()};
    kernels::matmul_multi(gate_up, h_.data(), T, gate_up_out, pool, {&L.w_down, 1});
    pool.parallel_for(T, swiglu_grain, [&](int64_t b, int64_t e) {
      kernels::swiglu(&gate_[b * ffn], &up_[b * ffn], &gate_[b * ffn], (e - b) * ffn);
    });
    kernels::matmul(L.w_down, gate_.data(), T, h_.data(), pool, after_down);
    kernels::add(x_.data(), h_.data(), x_.data(), T * dim);

    if (l == opt.hidden_layer) out.hidden.assign(x_.begin(), x_.begin() + T * dim);
  }
  if (opt.hidden_layer < 0) {
    // A range that stops early hands its state on to the next range; a full pass needs none.
    if (layer_end < c.n_layer)
      out.hidden.assign(x_.begin(), x_.begin() + T * dim);
    else
      out.hidden.clear();
  }

  for (const SequenceInput& in : batch) {
    const int64_t n = static_cast<int64_t>(in.tokens.size());
    for (int64_t l = opt.layer_begin; l < layer_end; ++l)
      cache.set_length(in.seq, l, cache.length(in.seq, l) + n);
  }

  // --- output head over the rows whose logits were asked for ---
  out.n_vocab = c.n_vocab;
  out.first_row.assign(batch.size(), 0);
  if (opt.logits == LogitsMode::kNone) {
    out.logits.clear();
    return;
  }
  std::vector<int64_t> rows;
  {
    int64_t t = 0;
    for (size_t e = 0; e < batch.size(); ++e) {
      const int64_t n = static_cast<int64_t>(batch[e].tokens.size());
      out.first_row[e] = static_cast<int64_t>(rows.size());
      if (opt.logits == LogitsMode::kAll) {
        for (int64_t i = 0; i < n; ++i) rows.push_back(t + i);
      } else {
        rows.push_back(t + n - 1);
      }
      t += n;
    }
  }
  const int64_t R = static_cast<int64_t>(rows.size());
  for (int64_t r = 0; r < R; ++r)
    kernels::rmsnorm(&x_[rows[r] * dim], weights_.output_norm.data(), &h_[r * dim], dim, c.rms_eps);
  out.logits.resize(R * c.n_vocab);
  kernels::matmul(weights_.output, h_.data(), R, out.logits.data(), pool);
}

void Model::attention(std::span<const SequenceInput> batch, const KvCache& cache, int64_t layer,
                      ThreadPool& pool) {
  const ModelConfig& c = config_;
  const int64_t T = static_cast<int64_t>(tok_seq_.size());
  const int64_t hd = c.head_dim, qd = c.q_dim(), group = c.n_head / c.n_head_kv;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  // One work item per (token, KV head): the query heads that share a KV head run
  // back to back on one thread, so its keys and values come from memory once
  // and from cache for the rest of the group. Too few such items for the
  // threads (a batch of one, few KV heads) fall back to an item per query head.
  // Each thread keeps its own score buffer.
  const int64_t max_len = *std::max_element(tok_slot_.begin(), tok_slot_.end()) + 1;
  const int64_t per_item = T * c.n_head_kv >= 2 * pool.size() ? group : 1;
  const int64_t items = T * c.n_head / per_item;
  std::atomic<int64_t> next{0};
  auto work = [&](int, int) {
    thread_local std::vector<float> scores;
    if (static_cast<int64_t>(scores.size()) < max_len) scores.resize(max_len);
    for (;;) {
      const int64_t item = next.fetch_add(1, std::memory_order_relaxed);
      if (item >= items) break;
      const int64_t t = item * per_item / c.n_head, h0 = item * per_item % c.n_head;
      const int seq = batch[tok_seq_[t]].seq;
      for (int64_t h = h0; h < h0 + per_item; ++h)
        kernels::attend(&q_[t * qd + h * hd], cache.key(seq, layer, h / group),
                        cache.value(seq, layer, h / group), tok_slot_[t] + 1 /* causal */, hd, hd,
                        scale, scores.data(), &att_[t * qd + h * hd]);
    }
  };
  // Small attention (tiny models, short contexts) is not worth waking workers.
  // Decode of the 1B shape at 160 positions (2^18.3 multiply-adds per layer) on
  // the Xeon host: 1.4-1.6 ms per token pooled against 1.7-2.1 ms on one thread.
  if (items * per_item * max_len * hd < (int64_t{1} << 18))
    work(0, 1);
  else
    pool.run(work);
}

std::vector<float> Model::forward_last(int seq, std::span<const int32_t> tokens, KvCache& cache,
                                       ThreadPool& pool) {
  SequenceInput in{seq, std::vector<int32_t>(tokens.begin(), tokens.end()), {}};
  ForwardOutput out;
  forward(std::span<const SequenceInput>(&in, 1), cache, ForwardOptions{}, out, pool);
  return std::vector<float>(out.logits.begin(), out.logits.begin() + config_.n_vocab);
}

}  // namespace tandem
