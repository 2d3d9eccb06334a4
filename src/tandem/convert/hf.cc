#include "tandem/convert/hf.h"

#include <filesystem>
#include <set>

#include "tandem/base/error.h"
#include "tandem/convert/emit.h"
#include "tandem/convert/hf_tokenizer.h"
#include "tandem/convert/json_file.h"
#include "tandem/convert/safetensors.h"

namespace tandem::convert {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

struct HfConfig {
  std::string arch;  // GGUF architecture: "llama" | "qwen2"
  std::string hf_arch;
  int64_t dim, ffn, n_layer, n_head, n_kv, head_dim, n_ctx, vocab;
  double rms_eps, rope_theta, rope_factor = 1.0;
  bool tied;
};

HfConfig read_config(const std::string& folder, std::vector<std::string>& notes) {
  const JsonFile c = read_json((fs::path(folder) / "config.json").string());
  HfConfig h;
  std::string model_type = c.get_string("model_type", "");
  if (c.has("architectures") && c.j["architectures"].is_array() && !c.j["architectures"].empty() &&
      c.j["architectures"][0].is_string())
    h.hf_arch = c.j["architectures"][0].get<std::string>();
  if (h.hf_arch == "LlamaForCausalLM" || h.hf_arch == "MistralForCausalLM" ||
      (h.hf_arch.empty() && (model_type == "llama" || model_type == "mistral")))
    h.arch = "llama";
  else if (h.hf_arch == "Qwen2ForCausalLM" || (h.hf_arch.empty() && model_type == "qwen2"))
    h.arch = "qwen2";
  else
    fail(
        "{}: architecture '{}' (model_type '{}') is not supported (LlamaForCausalLM, "
        "MistralForCausalLM, Qwen2ForCausalLM)",
        c.path, h.hf_arch, model_type);
  h.dim = c.get_int("hidden_size");
  h.ffn = c.get_int("intermediate_size");
  h.n_layer = c.get_int("num_hidden_layers");
  h.n_head = c.get_int("num_attention_heads");
  h.n_kv = c.get_int("num_key_value_heads", h.n_head);
  h.vocab = c.get_int("vocab_size");
  auto positive = [&](const char* key, int64_t v) {
    if (v <= 0 || v > (1 << 24)) fail("{}: {} = {} is out of range", c.path, key, v);
  };
  positive("hidden_size", h.dim);
  positive("intermediate_size", h.ffn);
  positive("num_hidden_layers", h.n_layer);
  positive("num_attention_heads", h.n_head);
  positive("num_key_value_heads", h.n_kv);
  positive("vocab_size", h.vocab);
  if (h.n_head % h.n_kv != 0)
    fail("{}: num_attention_heads {} is not a multiple of num_key_value_heads {}", c.path, h.n_head,
         h.n_kv);
  if (!c.has("head_dim") && h.dim % h.n_head != 0)
    fail("{}: hidden_size {} is not a multiple of num_attention_heads {}", c.path, h.dim, h.n_head);
  h.head_dim = c.get_int("head_dim", h.dim / h.n_head);
  if (h.head_dim <= 0 || h.head_dim % 2 != 0)
    fail("{}: head dimension {} must be positive and even", c.path, h.head_dim);
  h.n_ctx = c.get_int("max_position_embeddings", 2048);
  h.rms_eps = c.get_float("rms_norm_eps", 1e-6);
  h.rope_theta = c.get_float("rope_theta", 10000.0);
  h.tied = c.get_bool("tie_word_embeddings", false);
  if (c.has("rope_scaling")) {
    const json& rs = c.j["rope_scaling"];
    const std::string type =
        rs.is_object() ? rs.value("type", rs.value("rope_type", std::string())) : "";
    if (type != "linear" || !rs.contains("factor") || !rs["factor"].is_number())
      fail("{}: rope_scaling {} is not supported (only {{\"type\": \"linear\", \"factor\": F}})",
           c.path, rs.dump());
    h.rope_factor = rs["factor"].get<double>();
  }
  if (c.has("sliding_window") && c.j["sliding_window"].is_number_integer() &&
      c.get_int("sliding_window") < h.n_ctx && c.get_bool("use_sliding_window", true))
    notes.push_back(
        fmt::format("{}: sliding_window {} is ignored (tandem attends over the whole "
                    "context)",
                    c.path, c.get_int("sliding_window")));
  if (c.has("attention_bias") && c.get_bool("attention_bias", false) && h.arch == "llama")
    fail("{}: attention_bias = true is not supported for {}", c.path, h.hf_arch);
  if (c.has("hidden_act") && c.get_string("hidden_act", "silu") != "silu")
    fail("{}: hidden_act '{}' is not supported (silu)", c.path, c.get_string("hidden_act", ""));
  return h;
}

}  // namespace

ConvertReport convert_hf(const std::string& folder, const std::string& out_gguf, DType out_type) {
  ConvertOptions o;
  o.type = TargetType::of(out_type);
  return convert_hf(folder, out_gguf, o);
}

ConvertReport convert_hf(const std::string& folder, const std::string& out_gguf,
                         const ConvertOptions& opts) {
  ConvertReport report;
  std::vector<std::string> notes;
  const HfConfig h = read_config(folder, notes);
  auto st = std::make_shared<SafetensorsSet>(SafetensorsSet::open_folder(folder));
  const std::string where = st->describe();
  std::unique_ptr<ThreadPool> owned_pool;
  ThreadPool& pool = detail::pool_for(opts, owned_pool);

  const int64_t hd = h.head_dim, qd = h.n_head * hd, kvd = h.n_kv * hd;
  std::set<std::string> used;
  auto need = [&](const std::string& name, std::vector<int64_t> shape,
                  const std::string& why) -> const StTensor* {
    const StTensor* t = st->find(name);
    if (!t) fail("{}: tensor '{}' is missing ({} needs it)", where, name, h.hf_arch);
    if (t->shape != shape)
      fail("{}: tensor '{}' has shape {}, expected {} ({})", t->file, name, shape_str(t->shape),
           shape_str(shape), why);
    if (t->dtype != "F32" && t->dtype != "F16" && t->dtype != "BF16")
      fail("{}: tensor '{}' has dtype {}, which cannot be converted (F32, F16, BF16)", t->file,
           name, t->dtype);
    used.insert(name);
    return t;
  };

  // The embedding: tied models may hold it under either name.
  const std::string dims = fmt::format("vocab_size={}, hidden_size={}", h.vocab, h.dim);
  const StTensor* embd = st->find("model.embed_tokens.weight")
                             ? need("model.embed_tokens.weight", {h.vocab, h.dim}, dims)
                             : nullptr;
  const StTensor* lm_head =
      st->find("lm_head.weight") ? need("lm_head.weight", {h.vocab, h.dim}, dims) : nullptr;
  bool tied = h.tied;
  if (!embd && !lm_head)
    fail("{}: neither model.embed_tokens.weight nor lm_head.weight is present", where);
  if (!embd) embd = lm_head;
  if (!tied && !lm_head) {
    notes.push_back(
        fmt::format("{}: no lm_head.weight although tie_word_embeddings is false; "
                    "using the embedding as the output matrix",
                    where));
    tied = true;
  }

  gguf::Writer w;
  using gguf::Value;
  const std::string a = h.arch + ".";
  auto u32 = [](int64_t v) { return Value::u32(static_cast<uint32_t>(v)); };
  w.set("general.architecture", Value::str(h.arch));
  w.set("general.name", Value::str(fs::path(folder).filename().empty()
                                       ? fs::path(folder).parent_path().filename().string()
                                       : fs::path(folder).filename().string()));
  w.set("general.file_type", Value::u32(opts.type.llama_file_type()));
  w.set(a + "vocab_size", u32(h.vocab));
  w.set(a + "context_length", u32(h.n_ctx));
  w.set(a + "embedding_length", u32(h.dim));
  w.set(a + "block_count", u32(h.n_layer));
  w.set(a + "feed_forward_length", u32(h.ffn));
  w.set(a + "attention.head_count", u32(h.n_head));
  w.set(a + "attention.head_count_kv", u32(h.n_kv));
  if (hd * h.n_head != h.dim) {
    w.set(a + "attention.key_length", u32(hd));
    w.set(a + "attention.value_length", u32(hd));
  }
  w.set(a + "attention.layer_norm_rms_epsilon", Value::f32(static_cast<float>(h.rms_eps)));
  w.set(a + "rope.freq_base", Value::f32(static_cast<float>(h.rope_theta)));
  w.set(a + "rope.dimension_count", u32(hd));
  if (h.rope_factor != 1.0) {
    w.set(a + "rope.scaling.type", Value::str("linear"));
    w.set(a + "rope.scaling.factor", Value::f32(static_cast<float>(h.rope_factor)));
  }
  add_hf_tokenizer(w, folder, h.vocab, notes);
  for (std::string& n : notes) detail::add_note(report, opts, std::move(n));

  // GGUF tensor `gname` from HF tensor `t` ((rows, cols) or (n)); `perm_heads` > 0 applies the
  // per-head RoPE row permutation with that many heads.
  auto add = [&](const std::string& gname, const StTensor* t, int64_t perm_heads = 0) {
    const int64_t cols = t->cols(), rows = t->shape.size() == 1 ? 1 : t->rows();
    std::vector<int64_t> shape =
        t->shape.size() == 1 ? std::vector<int64_t>{cols} : std::vector<int64_t>{cols, rows};
    std::string note;
    const DType type = choose_type(opts.type, gname, shape, tied, &note);
    if (!note.empty()) detail::add_note(report, opts, note);
    report.tensor_types[gname] = type;
    const int64_t head = perm_heads > 0 ? rows / perm_heads : 0;
    add_rows_tensor(
        w, gname, type, shape,
        [st, t, cols, head](int64_t r, float* out) {
          int64_t src = r;
          if (head > 0) {  // GGUF row j of a head <- HF row (j % 2) * hd/2 + j / 2
            const int64_t h0 = r / head * head, j = r % head;
            src = h0 + (j % 2) * (head / 2) + j / 2;
          }
          t->read_f32(src * cols, cols, out);
        },
        pool);
  };

  const bool permute = h.arch == "llama";
  add("token_embd.weight", embd);
  add("output_norm.weight", need("model.norm.weight", {h.dim}, "hidden_size"));
  if (!tied) add("output.weight", lm_head);
  const std::string heads =
      fmt::format("hidden_size={}, num_attention_heads={}, head_dim={}", h.dim, h.n_head, hd);
  const std::string kv =
      fmt::format("hidden_size={}, num_key_value_heads={}, head_dim={}", h.dim, h.n_kv, hd);
  const std::string ffn = fmt::format("hidden_size={}, intermediate_size={}", h.dim, h.ffn);
  for (int64_t i = 0; i < h.n_layer; ++i) {
    const std::string p = fmt::format("model.layers.{}.", i), b = fmt::format("blk.{}.", i);
    add(b + "attn_norm.weight", need(p + "input_layernorm.weight", {h.dim}, "hidden_size"));
    add(b + "attn_q.weight", need(p + "self_attn.q_proj.weight", {qd, h.dim}, heads),
        permute ? h.n_head : 0);
    add(b + "attn_k.weight", need(p + "self_attn.k_proj.weight", {kvd, h.dim}, kv),
        permute ? h.n_kv : 0);
    add(b + "attn_v.weight", need(p + "self_attn.v_proj.weight", {kvd, h.dim}, kv));
    if (h.arch == "qwen2") {
      add(b + "attn_q.bias", need(p + "self_attn.q_proj.bias", {qd}, heads));
      add(b + "attn_k.bias", need(p + "self_attn.k_proj.bias", {kvd}, kv));
      add(b + "attn_v.bias", need(p + "self_attn.v_proj.bias", {kvd}, kv));
    }
    add(b + "attn_output.weight", need(p + "self_attn.o_proj.weight", {h.dim, qd}, heads));
    add(b + "ffn_norm.weight", need(p + "post_attention_layernorm.weight", {h.dim}, "hidden_size"));
    add(b + "ffn_gate.weight", need(p + "mlp.gate_proj.weight", {h.ffn, h.dim}, ffn));
    add(b + "ffn_up.weight", need(p + "mlp.up_proj.weight", {h.ffn, h.dim}, ffn));
    add(b + "ffn_down.weight", need(p + "mlp.down_proj.weight", {h.dim, h.ffn}, ffn));
  }
  std::vector<std::string> unused;
  for (const StTensor* t : st->all())
    if (!used.count(t->name) && t->name.find("rotary_emb.inv_freq") == std::string::npos)
      unused.push_back(t->name);
  if (!unused.empty())
    detail::add_note(
        report, opts,
        fmt::format("{}: {} tensor(s) not used, e.g. '{}'", where, unused.size(), unused.front()));
  detail::write_file(w, out_gguf, opts, report);
  return report;
}

}  // namespace tandem::convert
