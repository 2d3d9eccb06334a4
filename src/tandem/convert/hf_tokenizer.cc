#include "tandem/convert/hf_tokenizer.h"

#include <filesystem>
#include <map>
#include <optional>

#include "tandem/base/error.h"
#include "tandem/convert/json_file.h"

namespace tandem::convert {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr int32_t kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6;

const char* const kSpace = "\xE2\x96\x81";  // "▁" U+2581

// The pre-tokenizer regexes of the byte-level families we recognise (public).
const char* const kGpt2Regex =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const char* const kLlama3Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const kQwen2Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// Visits j and, for Sequence-like nodes, every element of its arrays.
template <typename F>
void visit(const json& j, F&& f) {
  if (j.is_object()) {
    f(j);
    for (const char* k : {"pretokenizers", "normalizers", "decoders", "processors"})
      if (j.contains(k) && j[k].is_array())
        for (const json& e : j[k]) visit(e, f);
  }
}

bool is_byte_token(const std::string& s) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
  return s.size() == 6 && s.compare(0, 3, "<0x") == 0 && hex(s[3]) && hex(s[4]) && s[5] == '>';
}

// "bos_token": "<s>" or {"content": "<s>", ...}
std::optional<std::string> token_content(const JsonFile& f, const std::string& key) {
  if (!f.has(key)) return std::nullopt;
  const json& v = f.j[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  return std::nullopt;
}

std::optional<int64_t> first_id(const JsonFile& f, const std::string& key) {
  if (!f.has(key)) return std::nullopt;
  const json& v = f.j[key];
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_array() && !v.empty() && v[0].is_number_integer()) return v[0].get<int64_t>();
  return std::nullopt;
}

}  // namespace

void add_hf_tokenizer(gguf::Writer& w, const std::string& folder, int64_t n_vocab,
                      std::vector<std::string>& notes) {
  using gguf::Value;
  const std::string tok_path = (fs::path(folder) / "tokenizer.json").string();
  if (!fs::exists(tok_path))
    fail(
        "{}: is missing (tandem converts Hugging Face tokenizer.json vocabularies; "
        "SentencePiece tokenizer.model files alone are not supported)",
        tok_path);
  const JsonFile tj = read_json(tok_path);
  const JsonFile tc = read_json_optional((fs::path(folder) / "tokenizer_config.json").string());
  const JsonFile cfg = read_json_optional((fs::path(folder) / "config.json").string());
  const JsonFile gen = read_json_optional((fs::path(folder) / "generation_config.json").string());

  if (!tj.has("model") || !tj.j["model"].is_object()) fail("{}: has no 'model' object", tok_path);
  const json& model = tj.j["model"];
  const std::string type = model.value("type", model.contains("merges") ? "BPE" : "");
  if (type != "BPE")
    fail(
        "{}: tokenizer model type '{}' is not supported (only BPE: SentencePiece-style with "
        "byte fallback, or byte-level like GPT-2/Llama-3/Qwen2)",
        tok_path, type);
  if (!model.contains("vocab") || !model["vocab"].is_object())
    fail("{}: model.vocab is missing or not an object", tok_path);

  // Token table, by id.
  std::map<int64_t, std::string> by_id;
  std::map<std::string, int64_t> id_of;
  for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0)
      fail("{}: vocab entry '{}' has a bad id {}", tok_path, it.key(), it.value().dump());
    const int64_t id = it.value().get<int64_t>();
    if (by_id.count(id))
      fail("{}: id {} is used by both '{}' and '{}'", tok_path, id, by_id[id], it.key());
    by_id[id] = it.key();
    id_of[it.key()] = id;
  }
  std::map<int64_t, bool> added;  // id -> special
  if (tj.has("added_tokens")) {
    for (const json& a : tj.j["added_tokens"]) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() ||
          !a.contains("content") || !a["content"].is_string())
        fail("{}: malformed added_tokens entry {}", tok_path, a.dump());
      const int64_t id = a["id"].get<int64_t>();
      const std::string content = a["content"].get<std::string>();
      if (id < 0) fail("{}: added token '{}' has a negative id", tok_path, content);
      if (by_id.count(id) && by_id[id] != content)
        fail("{}: added token '{}' reuses id {} of vocab token '{}'", tok_path, content, id,
             by_id[id]);
      by_id[id] = content;
      id_of[content] = id;
      added[id] = a.value("special", false);
    }
  }
  if (by_id.empty()) fail("{}: the vocabulary is empty", tok_path);
  const int64_t n_tok = by_id.rbegin()->first + 1;
  if (n_tok > n_vocab)
    fail("{}: the tokenizer has ids up to {}, but the model's embedding has only {} rows", tok_path,
         n_tok - 1, n_vocab);
  if (n_tok < n_vocab)
    notes.push_back(
        fmt::format("{}: {} tokens for {} embedding rows; the rest are written as "
                    "UNUSED [PAD<id>] tokens",
                    tok_path, n_tok, n_vocab));

  // Merges: "a b" strings (older files) or ["a", "b"] pairs (newer ones).
  std::vector<std::pair<std::string, std::string>> merges;
  if (model.contains("merges") && model["merges"].is_array()) {
    for (const json& m : model["merges"]) {
      if (m.is_string()) {
        const std::string s = m.get<std::string>();
        const size_t sp = s.find(' ', 1);
        if (sp == std::string::npos) fail("{}: merge '{}' is not 'a b'", tok_path, s);
        merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      } else {
        fail("{}: malformed merge {}", tok_path, m.dump());
      }
    }
  }

  // Which family?
  bool byte_level = false, metaspace = false, prepend_space = false, replace_space = false;
  std::vector<std::string> split_regexes;
  bool bytelevel_regex = false;
  visit(tj.j.value("pre_tokenizer", json()), [&](const json& p) {
    const std::string t = p.value("type", "");
    if (t == "ByteLevel") {
      byte_level = true;
      if (p.value("use_regex", true)) bytelevel_regex = true;
    } else if (t == "Split" && p.contains("pattern") && p["pattern"].is_object()) {
      if (p["pattern"].contains("Regex") && p["pattern"]["Regex"].is_string())
        split_regexes.push_back(p["pattern"]["Regex"].get<std::string>());
    } else if (t == "Metaspace") {
      metaspace = true;
      const std::string scheme = p.value("prepend_scheme", "");
      if (p.value("add_prefix_space", false) || scheme == "always" || scheme == "first")
        prepend_space = true;
    }
  });
  visit(tj.j.value("normalizer", json()), [&](const json& n) {
    const std::string t = n.value("type", "");
    if (t == "Prepend" && n.value("prepend", "") == kSpace) prepend_space = true;
    if (t == "Replace" && n.value("content", "") == kSpace) replace_space = true;
  });
  const bool spm = model.value("byte_fallback", false) || metaspace || replace_space;
  if (byte_level == spm)
    fail(
        "{}: cannot tell the BPE family: expected either a ByteLevel pre-tokenizer (GPT-2 style) "
        "or SentencePiece-style byte_fallback / '▁' spaces{}",
        tok_path, byte_level ? ", found both" : ", found neither");

  const std::string unk = model.value("unk_token", json()).is_string()
                              ? model["unk_token"].get<std::string>()
                              : token_content(tc, "unk_token").value_or("");

  std::vector<std::string> tokens(n_vocab);
  std::vector<int32_t> types(n_vocab, kNormal);
  for (int64_t i = 0; i < n_vocab; ++i) {
    auto it = by_id.find(i);
    if (it == by_id.end()) {
      tokens[i] = "[PAD" + std::to_string(i) + "]";
      types[i] = kUnused;
      continue;
    }
    tokens[i] = it->second;
    auto a = added.find(i);
    if (a != added.end())
      types[i] = a->second ? kControl : kUserDefined;
    else if (!unk.empty() && tokens[i] == unk)
      types[i] = kUnknown;
    else if (spm && is_byte_token(tokens[i]))
      types[i] = kByte;
  }
  if (!unk.empty() && id_of.count(unk)) types[id_of[unk]] = kUnknown;

  if (spm) {
    const float base = -static_cast<float>(merges.size() + 1);
    std::vector<float> scores(n_vocab, base);
    std::vector<bool> scored(n_vocab, false);
    for (size_t r = 0; r < merges.size(); ++r) {
      auto it = id_of.find(merges[r].first + merges[r].second);
      if (it == id_of.end())
        fail("{}: merge {} '{} {}' produces '{}', which is not in the vocabulary", tok_path, r,
             merges[r].first, merges[r].second, merges[r].first + merges[r].second);
      if (!scored[it->second]) {
        scores[it->second] = -static_cast<float>(r);
        scored[it->second] = true;
      }
    }
    w.set("tokenizer.ggml.model", Value::str("llama"));
    w.set("tokenizer.ggml.pre", Value::str("default"));
    w.set("tokenizer.ggml.tokens", Value::string_array(tokens));
    w.set("tokenizer.ggml.scores", Value::f32_array(scores));
    w.set("tokenizer.ggml.token_type", Value::i32_array(types));
    w.set("tokenizer.ggml.add_space_prefix", Value::boolean(prepend_space));
  } else {
    std::string pre;
    if (split_regexes.empty() && bytelevel_regex) {
      pre = "gpt-2";
    } else if (split_regexes.size() == 1) {
      const std::string& re = split_regexes[0];
      if (re == kLlama3Regex)
        pre = "llama-bpe";
      else if (re == kQwen2Regex)
        pre = "qwen2";
      else if (re == kGpt2Regex)
        pre = "gpt-2";
    }
    if (pre.empty())
      fail(
          "{}: the byte-level pre-tokenizer is not one tandem recognises (GPT-2, Llama-3 "
          "'llama-bpe', Qwen2); its regex is {}",
          tok_path, split_regexes.empty() ? std::string("(none)") : json(split_regexes).dump());
    std::vector<std::string> merge_strs;
    merge_strs.reserve(merges.size());
    for (const auto& [a, b] : merges) merge_strs.push_back(a + " " + b);
    w.set("tokenizer.ggml.model", Value::str("gpt2"));
    w.set("tokenizer.ggml.pre", Value::str(pre));
    w.set("tokenizer.ggml.tokens", Value::string_array(tokens));
    w.set("tokenizer.ggml.token_type", Value::i32_array(types));
    w.set("tokenizer.ggml.merges", Value::string_array(merge_strs));
  }

  // Special token ids: tokenizer_config.json names, then config.json / generation_config.json ids.
  auto special = [&](const char* tc_key, const char* id_key) -> std::optional<int64_t> {
    if (auto s = token_content(tc, tc_key)) {
      auto it = id_of.find(*s);
      if (it != id_of.end()) return it->second;
      notes.push_back(
          fmt::format("{}: {} '{}' is not in the vocabulary; ignored", tc.path, tc_key, *s));
    }
    if (auto id = first_id(cfg, id_key)) return id;
    if (auto id = first_id(gen, id_key)) return id;
    return std::nullopt;
  };
  auto set_id = [&](const char* key, std::optional<int64_t> id) {
    if (!id) return;
    if (*id < 0 || *id >= n_vocab) {
      notes.push_back(fmt::format("{} = {} is outside the vocabulary; not written", key, *id));
      return;
    }
    w.set(key, Value::u32(static_cast<uint32_t>(*id)));
  };
  set_id("tokenizer.ggml.bos_token_id", special("bos_token", "bos_token_id"));
  set_id("tokenizer.ggml.eos_token_id", special("eos_token", "eos_token_id"));
  if (!unk.empty() && id_of.count(unk)) set_id("tokenizer.ggml.unknown_token_id", id_of[unk]);
  set_id("tokenizer.ggml.padding_token_id", special("pad_token", "pad_token_id"));

  // add_bos: tokenizer_config.json, else whether the post-processor template starts with a
  // special token, else the family default.
  std::optional<bool> add_bos;
  if (tc.has("add_bos_token")) add_bos = tc.get_bool("add_bos_token", false);
  if (!add_bos && tj.has("post_processor")) {
    visit(tj.j["post_processor"], [&](const json& p) {
      if (p.value("type", "") == "TemplateProcessing" && p.contains("single") &&
          p["single"].is_array() && !p["single"].empty())
        add_bos = p["single"][0].contains("SpecialToken");
    });
  }
  w.set("tokenizer.ggml.add_bos_token", Value::boolean(add_bos.value_or(spm)));
  w.set("tokenizer.ggml.add_eos_token", Value::boolean(tc.get_bool("add_eos_token", false)));

  if (tc.has("chat_template")) {
    const json& ct = tc.j["chat_template"];
    if (ct.is_string()) {
      w.set("tokenizer.chat_template", Value::str(ct.get<std::string>()));
    } else if (ct.is_array()) {
      for (const json& t : ct) {
        if (!t.is_object() || !t.contains("name") || !t.contains("template") ||
            !t["name"].is_string() || !t["template"].is_string())
          continue;
        const std::string name = t["name"].get<std::string>();
        w.set(name == "default" ? std::string("tokenizer.chat_template")
                                : "tokenizer.chat_template." + name,
              Value::str(t["template"].get<std::string>()));
      }
    }
  }
}

}  // namespace tandem::convert
