#include "test_util.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "tandem/model/model.h"

namespace tandem::testing {
namespace fs = std::filesystem;

std::string shared_dir() {
  std::string d;
  if (const char* e = std::getenv("TANDEM_SHARED"); e && *e)
    d = e;
  else
    d = std::string(TANDEM_SOURCE_DIR) + "/../shared";
  return fs::exists(d) ? d : "";
}

namespace {
struct TempDir {
  std::string path;
  TempDir() {
    path =
        (fs::temp_directory_path() / ("tandem_convert_test_" + std::to_string(getpid()))).string();
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};
}  // namespace

std::string temp_dir() {
  static TempDir d;
  return d.path;
}

std::vector<int32_t> greedy(const std::string& path, const std::vector<int32_t>& prompt, int n_new,
                            ThreadPool& pool) {
  auto model = Model::load(path);
  const int64_t V = model->config().n_vocab;
  KvCache cache = model->make_cache(static_cast<int64_t>(prompt.size()) + n_new + 1, 1);
  std::vector<float> logits = model->forward_last(0, prompt, cache, pool);
  std::vector<int32_t> out;
  for (int i = 0; i < n_new; ++i) {
    int32_t next =
        static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    out.push_back(next);
    if (i + 1 < n_new) logits = model->forward_last(0, std::span(&next, 1), cache, pool);
    (void)V;
  }
  return out;
}

std::string detokenize(const std::vector<std::string>& vocab, const std::vector<int32_t>& ids) {
  std::string out;
  int32_t prev = -1;
  for (int32_t id : ids) {
    if (id == 1 && prev == -1) {  // BOS itself is not printed
      prev = id;
      continue;
    }
    std::string piece = vocab.at(id);
    if (piece.size() == 6 && piece.compare(0, 3, "<0x") == 0 && piece[5] == '>') {
      piece = std::string(1, static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16)));
    } else {
      std::string s;
      for (size_t i = 0; i < piece.size(); ++i) {
        if (piece.compare(i, 3, "\xE2\x96\x81") == 0) {
          s += ' ';
          i += 2;
        } else {
          s += piece[i];
        }
      }
      piece = s;
    }
    if (prev == 1 && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
    out += piece;
    prev = id;
  }
  return out;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

void write_safetensors(const std::string& path, const std::vector<StEntry>& tensors,
                       const std::string& header_override) {
  nlohmann::json h = nlohmann::json::object();
  uint64_t off = 0;
  for (const StEntry& t : tensors) {
    h[t.name] = {
        {"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {off, off + 4 * t.data.size()}}};
    off += 4 * t.data.size();
  }
  const std::string header = header_override.empty() ? h.dump() : header_override;
  std::ofstream f(path, std::ios::binary);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) f.put(static_cast<char>((n >> (8 * i)) & 0xFF));
  f << header;
  for (const StEntry& t : tensors)
    f.write(reinterpret_cast<const char*>(t.data.data()), 4 * t.data.size());
}

std::map<std::string, StEntry> write_hf_folder(const std::string& dir, const HfSpec& s) {
  fs::create_directories(dir);
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 0.2f);
  std::map<std::string, StEntry> t;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float mean = 0.0f) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    StEntry e{name, shape, std::vector<float>(n)};
    for (float& x : e.data) x = mean + nd(rng);
    t[name] = e;
  };
  const int64_t hd = s.dim / s.n_head;
  add(s.tied ? "lm_head.weight" : "model.embed_tokens.weight", {s.vocab, s.dim});
  if (!s.tied) add("lm_head.weight", {s.vocab, s.dim});
  add("model.norm.weight", {s.dim}, 1.0f);
  for (int64_t i = 0; i < s.n_layer; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    add(p + "input_layernorm.weight", {s.dim}, 1.0f);
    add(p + "post_attention_layernorm.weight", {s.dim}, 1.0f);
    add(p + "self_attn.q_proj.weight", {s.n_head * hd, s.dim});
    add(p + "self_attn.k_proj.weight", {s.n_kv * hd, s.dim});
    add(p + "self_attn.v_proj.weight", {s.n_kv * hd, s.dim});
    add(p + "self_attn.o_proj.weight", {s.dim, s.n_head * hd});
    if (s.arch == "qwen2") {
      add(p + "self_attn.q_proj.bias", {s.n_head * hd});
      add(p + "self_attn.k_proj.bias", {s.n_kv * hd});
      add(p + "self_attn.v_proj.bias", {s.n_kv * hd});
    }
    add(p + "mlp.gate_proj.weight", {s.ffn, s.dim});
    add(p + "mlp.up_proj.weight", {s.ffn, s.dim});
    add(p + "mlp.down_proj.weight", {s.dim, s.ffn});
  }
  std::vector<StEntry> list;
  for (auto& [k, v] : t) list.push_back(v);
  write_safetensors(dir + "/model.safetensors", list);

  nlohmann::json cfg = {
      {"architectures", {s.arch == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"}},
      {"model_type", s.arch},
      {"hidden_size", s.dim},
      {"intermediate_size", s.ffn},
      {"num_hidden_layers", s.n_layer},
      {"num_attention_heads", s.n_head},
      {"num_key_value_heads", s.n_kv},
      {"vocab_size", s.vocab},
      {"rms_norm_eps", 1e-6},
      {"rope_theta", 10000.0},
      {"max_position_embeddings", 256},
      {"tie_word_embeddings", s.tied},
      {"bos_token_id", 1},
      {"eos_token_id", 2}};
  write_text(dir + "/config.json", cfg.dump(2));

  // A tiny vocabulary: specials, letters, a few merges.
  nlohmann::json vocab = nlohmann::json::object();
  nlohmann::json merges = nlohmann::json::array();
  nlohmann::json added = nlohmann::json::array();
  nlohmann::json tok;
  if (s.byte_level) {
    const char* base[] = {"a", "b", "c", "d", "e", "Ġ", "Ċ"};
    int id = 0;
    for (const char* b : base) vocab[b] = id++;
    vocab["ab"] = id++;
    vocab["Ġa"] = id++;
    merges = {"a b", "Ġ a"};
    added.push_back({{"id", id}, {"content", "<|endoftext|>"}, {"special", true}});
    added.push_back({{"id", id + 1}, {"content", "<tool>"}, {"special", false}});
    tok = {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}},
           {"added_tokens", added},
           {"pre_tokenizer",
            {{"type", "Sequence"},
             {"pretokenizers",
              {{{"type", "Split"},
                {"pattern",
                 {{"Regex",
                   "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
                   "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}}},
                {"behavior", "Isolated"}},
               {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}}}};
  } else {
    int id = 0;
    for (const char* b : {"<unk>", "<s>", "</s>"}) vocab[b] = id++;
    for (int i = 0; i < 4; ++i) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "<0x%02X>", i + 0x20);
      vocab[buf] = id++;
    }
    for (const char* b : {"a", "b", "c", "\xE2\x96\x81"}) vocab[b] = id++;
    vocab["ab"] = id++;
    vocab
        ["\xE2\x96\x81"
         "ab"] = id++;
    merges = {{"a", "b"}, {"\xE2\x96\x81", "ab"}};  // newer pair form
    for (int i = 0; i < 3; ++i)
      added.push_back({{"id", i},
                       {"content", i == 0   ? "<unk>"
                                   : i == 1 ? "<s>"
                                            : "</s>"},
                       {"special", true}});
    tok = {
        {"model",
         {{"type", "BPE"},
          {"vocab", vocab},
          {"merges", merges},
          {"byte_fallback", true},
          {"unk_token", "<unk>"}}},
        {"added_tokens", added},
        {"normalizer",
         {{"type", "Sequence"},
          {"normalizers",
           {{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
            {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}}}}}};
  }
  write_text(dir + "/tokenizer.json", tok.dump(2));
  nlohmann::json tc = {{"chat_template", "{% for m in messages %}{{ m.content }}{% endfor %}"}};
  if (!s.byte_level) tc["bos_token"] = "<s>", tc["eos_token"] = "</s>";
  write_text(dir + "/tokenizer_config.json", tc.dump(2));
  return t;
}

}  // namespace tandem::testing
