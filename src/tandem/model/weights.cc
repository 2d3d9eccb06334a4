#include "tandem/model/weights.h"

#include <fmt/format.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <string>

#include "tandem/base/error.h"
#include "tandem/gguf/reader.h"
#include "tandem/tensor/quantize.h"

namespace tandem {
namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "x" : "") + std::to_string(s[i]);
  return out;
}

class Binder {
 public:
  Binder(const gguf::File& f, const ModelConfig& c) : f_(f), c_(c) {}

  const gguf::TensorInfo& get(const std::string& name, std::vector<int64_t> shape,
                              const std::string& why) const {
    const gguf::TensorInfo* t = f_.find_tensor(name);
    if (!t)
      fail("{}: tensor '{}' is missing ({} model with {} layers needs it)", f_.path(), name,
           c_.arch, c_.n_layer);
    if (t->shape != shape)
      fail("{}: tensor '{}' has shape {}, expected {} ({})", f_.path(), name, shape_str(t->shape),
           shape_str(shape), why);
    if (!dtype_info(t->type).computable)
      fail(
          "{}: tensor '{}' has type {}, which tandem cannot compute with (supported: F32, F16, "
          "BF16, Q8_0, Q4_0, Q4_K, Q6_K); re-quantize the model with `tandem quantize`",
          f_.path(), name, dtype_name(t->type));
    return *t;
  }

  // GGUF shape {cols, rows} becomes a (rows, cols) matrix view.
  kernels::MatView matrix(const std::string& name, int64_t rows, int64_t cols,
                          const std::string& why) const {
    const gguf::TensorInfo& t = get(name, {cols, rows}, why);
    return kernels::MatView{t.type, t.data, rows, cols};
  }

  std::vector<float> vector(const std::string& name, int64_t n, const std::string& why) const {
    const gguf::TensorInfo& t = get(name, {n}, why);
    std::vector<float> out(n);
    dequantize_row(t.type, t.data, out.data(), n);
    return out;
  }

 private:
  const gguf::File& f_;
  const ModelConfig& c_;
};

// The file pages of a matrix that now lives repacked are not needed any more:
// drop them from this process (they stay in the page cache, re-read on touch).
void release_pages(const void* data, int64_t bytes) {
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto begin = (reinterpret_cast<uintptr_t>(data) + page - 1) / page * page;
  const auto end =
      (reinterpret_cast<uintptr_t>(data) + static_cast<uintptr_t>(bytes)) / page * page;
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

}  // namespace

Weights Weights::bind(const gguf::File& f, const ModelConfig& c) {
  Binder b(f, c);
  Weights w;
  const std::string dims = fmt::format("dim={}", c.dim);
  const std::string heads =
      fmt::format("dim={}, n_head={}, head_dim={}", c.dim, c.n_head, c.head_dim);
  const std::string kv =
      fmt::format("dim={}, n_head_kv={}, head_dim={}", c.dim, c.n_head_kv, c.head_dim);
  const std::string ffn = fmt::format("dim={}, ffn_dim={}", c.dim, c.ffn_dim);

  w.token_embd = b.matrix("token_embd.weight", c.n_vocab, c.dim, dims);
  w.output_norm = b.vector("output_norm.weight", c.dim, dims);
  if (f.find_tensor("output.weight")) {
    w.output = b.matrix("output.weight", c.n_vocab, c.dim,
                        fmt::format("n_vocab={} from token_embd, {}", c.n_vocab, dims));
  } else {
    w.output = w.token_embd;
    w.tied_output = true;
  }
  w.layers.resize(c.n_layer);
  for (int64_t i = 0; i < c.n_layer; ++i) {
    LayerWeights& l = w.layers[i];
    auto n = [i](const char* s) { return fmt::format("blk.{}.{}", i, s); };
    l.attn_norm = b.vector(n("attn_norm.weight"), c.dim, dims);
    l.wq = b.matrix(n("attn_q.weight"), c.q_dim(), c.dim, heads);
    l.wk = b.matrix(n("attn_k.weight"), c.kv_dim(), c.dim, kv);
    l.wv = b.matrix(n("attn_v.weight"), c.kv_dim(), c.dim, kv);
    l.wo = b.matrix(n("attn_output.weight"), c.dim, c.q_dim(), heads);
    if (c.qkv_bias) {
      l.bq = b.vector(n("attn_q.bias"), c.q_dim(), heads);
      l.bk = b.vector(n("attn_k.bias"), c.kv_dim(), kv);
      l.bv = b.vector(n("attn_v.bias"), c.kv_dim(), kv);
    }
    l.ffn_norm = b.vector(n("ffn_norm.weight"), c.dim, dims);
    l.w_gate = b.matrix(n("ffn_gate.weight"), c.ffn_dim, c.dim, ffn);
    l.w_up = b.matrix(n("ffn_up.weight"), c.ffn_dim, c.dim, ffn);
    l.w_down = b.matrix(n("ffn_down.weight"), c.dim, c.ffn_dim, ffn);
  }
  w.pack_matrices();
  return w;
}

void Weights::pack_matrices() {
  auto pack = [this](kernels::MatView& m) {
    std::optional<kernels::PackedMatrix> p = kernels::pack_for_loading(m);
    if (!p) return;
    const bool row_major = p->view.layout == kernels::Layout::kRows;
    // A tied output's rows are also the embedding table: a row-major copy serves
    // both, a repacked one leaves the lookups in the file.
    if (!tied_output || row_major) release_pages(m.data, m.rows * row_bytes(m.type, m.cols));
    if (tied_output && row_major) token_embd = p->view;
    m = p->view;
    packed.push_back(std::move(*p));
  };
  for (LayerWeights& l : layers)
    for (kernels::MatView* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down})
      pack(*m);
  pack(output);
}

int64_t Weights::bytes_per_token() const {
  auto bytes = [](const kernels::MatView& m) { return m.rows * row_bytes(m.type, m.cols); };
  int64_t total = bytes(output) + row_bytes(token_embd.type, token_embd.cols);
  total += static_cast<int64_t>(output_norm.size() * sizeof(float));
  for (const LayerWeights& l : layers) {
    total += bytes(l.wq) + bytes(l.wk) + bytes(l.wv) + bytes(l.wo);
    total += bytes(l.w_gate) + bytes(l.w_up) + bytes(l.w_down);
    total += static_cast<int64_t>(
        (l.attn_norm.size() + l.ffn_norm.size() + l.bq.size() + l.bk.size() + l.bv.size()) *
        sizeof(float));
  }
  return total;
}

}  // namespace tandem
