#include "tandem/convert/llama2c.h"

#include <cstring>
#include <filesystem>

#include "tandem/base/error.h"
#include "tandem/base/mapped_file.h"
#include "tandem/convert/emit.h"
#include "tandem/gguf/writer.h"

namespace tandem::convert {
namespace {

struct Header {
  int64_t dim, hidden, n_layer, n_head, n_kv, vocab, seq_len;
  bool shared;
};

int32_t read_i32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

Header parse_header(const MappedFile& f) {
  const auto b = f.bytes();
  if (b.size() < 28)
    fail("{}: truncated llama2.c checkpoint ({} bytes; the 28-byte header is missing)", f.path(),
         b.size());
  if (std::memcmp(b.data(), "GGUF", 4) == 0)
    fail("{}: is a GGUF file, not a llama2.c checkpoint (it needs no conversion)", f.path());
  if (read_i32(b.data()) == 0x616b3432)
    fail(
        "{}: this is a llama2.c 'ak42' versioned export; only the legacy (version 0) checkpoint "
        "format is supported",
        f.path());
  Header h;
  int32_t v[7];
  for (int i = 0; i < 7; ++i) v[i] = read_i32(b.data() + 4 * i);
  h.dim = v[0], h.hidden = v[1], h.n_layer = v[2], h.n_head = v[3], h.n_kv = v[4];
  h.shared = v[5] > 0;
  h.vocab = v[5] < 0 ? -static_cast<int64_t>(v[5]) : v[5];
  h.seq_len = v[6];
  auto check = [&](const char* what, int64_t x, int64_t limit) {
    if (x <= 0 || x > limit)
      fail(
          "{}: bad llama2.c header: {} = {} (expected 1..{}); header is dim={} hidden_dim={} "
          "n_layers={} n_heads={} n_kv_heads={} vocab_size={} seq_len={}",
          f.path(), what, x, limit, v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
  };
  check("dim", h.dim, 1 << 16);
  check("hidden_dim", h.hidden, 1 << 18);
  check("n_layers", h.n_layer, 1024);
  check("n_heads", h.n_head, 1024);
  check("n_kv_heads", h.n_kv, 1024);
  check("vocab_size", h.vocab, 1 << 22);
  check("seq_len", h.seq_len, 1 << 24);
  if (h.dim % h.n_head != 0 || (h.dim / h.n_head) % 2 != 0)
    fail("{}: bad llama2.c header: dim {} is not n_heads {} times an even head size", f.path(),
         h.dim, h.n_head);
  if (h.n_head % h.n_kv != 0)
    fail("{}: bad llama2.c header: n_heads {} is not a multiple of n_kv_heads {}", f.path(),
         h.n_head, h.n_kv);
  return h;
}

std::string token_text(std::string s) {
  if (s == "\n<s>\n") return "<s>";
  if (s == "\n</s>\n") return "</s>";
  std::string out;
  for (char c : s) {
    if (c == ' ')
      out += "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK, SentencePiece's space
    else
      out += c;
  }
  return out;
}

bool is_byte_token(const std::string& s) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
  return s.size() == 6 && s.compare(0, 3, "<0x") == 0 && hex(s[3]) && hex(s[4]) && s[5] == '>';
}

void add_tokenizer(gguf::Writer& w, const std::string& path, int64_t vocab) {
  auto f = MappedFile::open(path);
  const auto b = f->bytes();
  if (b.size() < 4) fail("{}: truncated llama2.c tokenizer (no max_token_length)", path);
  const int32_t max_len = read_i32(b.data());
  if (max_len <= 0 || max_len > (1 << 16))
    fail("{}: bad llama2.c tokenizer: max_token_length = {}", path, max_len);
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  size_t off = 4;
  for (int64_t i = 0; i < vocab; ++i) {
    if (b.size() - off < 8)
      fail("{}: truncated llama2.c tokenizer: token {} of {} is missing (file has {} bytes)", path,
           i, vocab, b.size());
    float score;
    std::memcpy(&score, b.data() + off, 4);
    const int32_t len = read_i32(b.data() + off + 4);
    off += 8;
    if (len < 0 || len > max_len || static_cast<size_t>(len) > b.size() - off)
      fail(
          "{}: bad llama2.c tokenizer: token {} has length {} (max_token_length {}, {} bytes "
          "left)",
          path, i, len, max_len, b.size() - off);
    std::string t = token_text(std::string(reinterpret_cast<const char*>(b.data() + off), len));
    off += len;
    int32_t type = 1;  // NORMAL
    if (t == "<unk>")
      type = 2;  // UNKNOWN
    else if (t == "<s>" || t == "</s>")
      type = 3;  // CONTROL
    else if (is_byte_token(t))
      type = 6;  // BYTE
    tokens.push_back(std::move(t));
    scores.push_back(score);
    types.push_back(type);
  }
  if (off != b.size())
    fail(
        "{}: llama2.c tokenizer has {} bytes after the {} tokens the checkpoint's vocab_size "
        "implies; is it the tokenizer of this model?",
        path, b.size() - off, vocab);
  using gguf::Value;
  w.set("tokenizer.ggml.model", Value::str("llama"));
  w.set("tokenizer.ggml.pre", Value::str("default"));
  w.set("tokenizer.ggml.tokens", Value::string_array(std::move(tokens)));
  w.set("tokenizer.ggml.scores", Value::f32_array(scores));
  w.set("tokenizer.ggml.token_type", Value::i32_array(types));
  w.set("tokenizer.ggml.bos_token_id", Value::u32(1));
  w.set("tokenizer.ggml.eos_token_id", Value::u32(2));
  w.set("tokenizer.ggml.unknown_token_id", Value::u32(0));
  w.set("tokenizer.ggml.add_bos_token", Value::boolean(true));
  w.set("tokenizer.ggml.add_eos_token", Value::boolean(false));
  w.set("tokenizer.ggml.add_space_prefix", Value::boolean(true));
}

}  // namespace

ConvertReport convert_llama2c(const std::string& checkpoint, const std::string& tokenizer_bin,
                              const std::string& out_gguf, const ConvertOptions& opts) {
  ConvertReport report;
  std::unique_ptr<ThreadPool> owned_pool;
  ThreadPool& pool = detail::pool_for(opts, owned_pool);
  std::shared_ptr<MappedFile> file = MappedFile::open(checkpoint);
  const Header h = parse_header(*file);
  const int64_t hd = h.dim / h.n_head, qd = h.n_head * hd, kvd = h.n_kv * hd;
  const int64_t L = h.n_layer;

  // Float offsets of every array, in file order (int64 arithmetic: no overflow
  // for any header that passed the range checks).
  int64_t pos = 0;
  auto take = [&pos](int64_t n) {
    int64_t at = pos;
    pos += n;
    return at;
  };
  const int64_t o_embd = take(h.vocab * h.dim);
  const int64_t o_rms_att = take(L * h.dim);
  const int64_t o_wq = take(L * h.dim * qd);
  const int64_t o_wk = take(L * h.dim * kvd);
  const int64_t o_wv = take(L * h.dim * kvd);
  const int64_t o_wo = take(L * qd * h.dim);
  const int64_t o_rms_ffn = take(L * h.dim);
  const int64_t o_w1 = take(L * h.dim * h.hidden);
  const int64_t o_w2 = take(L * h.hidden * h.dim);
  const int64_t o_w3 = take(L * h.dim * h.hidden);
  const int64_t o_rms_final = take(h.dim);
  take(h.seq_len * hd / 2);  // freq_cis_real (unused)
  take(h.seq_len * hd / 2);  // freq_cis_imag (unused)
  const int64_t o_wcls = h.shared ? o_embd : take(h.vocab * h.dim);
  const uint64_t expect = 28 + 4 * static_cast<uint64_t>(pos);
  if (file->size() != expect)
    fail(
        "{}: llama2.c checkpoint has {} bytes, but its header (dim={} hidden_dim={} n_layers={} "
        "n_heads={} n_kv_heads={} vocab_size={} seq_len={}, {} classifier) implies {}{}",
        checkpoint, file->size(), h.dim, h.hidden, h.n_layer, h.n_head, h.n_kv,
        h.shared ? h.vocab : -h.vocab, h.seq_len, h.shared ? "shared" : "separate", expect,
        file->size() < expect ? ": the file is truncated" : "");

  gguf::Writer w;
  using gguf::Value;
  std::string name = std::filesystem::path(checkpoint).stem().string();
  w.set("general.architecture", Value::str("llama"));
  w.set("general.name", Value::str(name));
  w.set("general.file_type", Value::u32(opts.type.llama_file_type()));
  w.set("llama.vocab_size", Value::u32(static_cast<uint32_t>(h.vocab)));
  w.set("llama.context_length", Value::u32(static_cast<uint32_t>(h.seq_len)));
  w.set("llama.embedding_length", Value::u32(static_cast<uint32_t>(h.dim)));
  w.set("llama.block_count", Value::u32(static_cast<uint32_t>(L)));
  w.set("llama.feed_forward_length", Value::u32(static_cast<uint32_t>(h.hidden)));
  w.set("llama.attention.head_count", Value::u32(static_cast<uint32_t>(h.n_head)));
  w.set("llama.attention.head_count_kv", Value::u32(static_cast<uint32_t>(h.n_kv)));
  w.set("llama.attention.layer_norm_rms_epsilon", Value::f32(1e-5f));
  w.set("llama.rope.freq_base", Value::f32(10000.0f));
  w.set("llama.rope.dimension_count", Value::u32(static_cast<uint32_t>(hd)));
  add_tokenizer(w, tokenizer_bin, h.vocab);

  const uint8_t* base = file->bytes().data() + 28;
  // A (rows, cols) f32 matrix starting at float offset `at`; GGUF shape {cols, rows}.
  auto add = [&](const std::string& tname, int64_t at, int64_t rows, int64_t cols) {
    std::vector<int64_t> shape =
        rows == 1 ? std::vector<int64_t>{cols} : std::vector<int64_t>{cols, rows};
    std::string note;
    DType t = choose_type(opts.type, tname, shape, h.shared, &note);
    if (!note.empty()) detail::add_note(report, opts, note);
    report.tensor_types[tname] = t;
    add_rows_tensor(
        w, tname, t, shape,
        [file, base, at, cols](int64_t r, float* out) {
          std::memcpy(out, base + 4 * (at + r * cols), 4 * cols);
        },
        pool);
  };
  add("token_embd.weight", o_embd, h.vocab, h.dim);
  add("output_norm.weight", o_rms_final, 1, h.dim);
  if (!h.shared) add("output.weight", o_wcls, h.vocab, h.dim);
  for (int64_t l = 0; l < L; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    add(b + "attn_norm.weight", o_rms_att + l * h.dim, 1, h.dim);
    add(b + "attn_q.weight", o_wq + l * h.dim * qd, qd, h.dim);
    add(b + "attn_k.weight", o_wk + l * h.dim * kvd, kvd, h.dim);
    add(b + "attn_v.weight", o_wv + l * h.dim * kvd, kvd, h.dim);
    add(b + "attn_output.weight", o_wo + l * qd * h.dim, h.dim, qd);
    add(b + "ffn_norm.weight", o_rms_ffn + l * h.dim, 1, h.dim);
    add(b + "ffn_gate.weight", o_w1 + l * h.dim * h.hidden, h.hidden, h.dim);
    add(b + "ffn_down.weight", o_w2 + l * h.hidden * h.dim, h.dim, h.hidden);
    add(b + "ffn_up.weight", o_w3 + l * h.dim * h.hidden, h.hidden, h.dim);
  }
  detail::write_file(w, out_gguf, opts, report);
  return report;
}

}  // namespace tandem::convert
