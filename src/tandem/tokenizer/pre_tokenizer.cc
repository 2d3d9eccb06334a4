#include "tandem/tokenizer/pre_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <new>

#include "tandem/base/error.h"

namespace tandem {

namespace {

// GPT-2's split (also the ByteLevel pre-tokenizer's built-in expression).
constexpr const char* kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// Llama 3 (tiktoken cl100k style); Qwen2 is the same with single digits.
constexpr const char* kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

struct Known {
  const char* name;
  std::vector<std::string> patterns;
  bool ignore_merges;
};

const std::vector<Known>& known() {
  static const std::vector<Known> k = {
      {"default", {kGpt2}, false},
      {"gpt-2", {kGpt2}, false},
      {"llama-bpe", {kLlama3}, true},
      {"llama3", {kLlama3}, true},
      {"qwen2", {kQwen2}, false},
      {"starcoder", {R"(\p{N})", kGpt2}, false},
      {"deepseek-coder",
       {R"([\r\n])", R"(\s?\p{L}+)", R"(\s?\p{P}+)", "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+",
        R"(\p{N})"},
       false},
      {"falcon", {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, "[0-9][0-9][0-9]"}, false},
  };
  return k;
}

}  // namespace

struct PreTokenizer::Regex {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Regex() { pcre2_code_free(code); }
};

std::unique_ptr<PreTokenizer> PreTokenizer::create(std::string_view name) {
  for (const Known& k : known())
    if (name == k.name) return std::make_unique<PreTokenizer>(k.patterns);
  return nullptr;
}

std::string PreTokenizer::supported_names() {
  std::string s;
  for (const Known& k : known()) {
    if (!s.empty()) s += ", ";
    s += k.name;
  }
  return s;
}

bool PreTokenizer::ignores_merges(std::string_view name) {
  for (const Known& k : known())
    if (name == k.name) return k.ignore_merges;
  return false;
}

PreTokenizer::PreTokenizer(const std::vector<std::string>& patterns) {
  for (const std::string& p : patterns) {
    auto r = std::make_unique<Regex>();
    int err = 0;
    PCRE2_SIZE offset = 0;
    r->code =
        pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.data()), p.size(),
                      PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &offset, nullptr);
    if (!r->code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      fail("pre-tokenizer expression '{}' does not compile at offset {}: {}", p, offset,
           reinterpret_cast<const char*>(msg));
    }
    r->jit = pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE) == 0;
    regexes_.push_back(std::move(r));
  }
}

PreTokenizer::~PreTokenizer() = default;

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>& out) const {
  if (text.empty()) return;
  std::vector<std::string_view> cur{text}, next;
  // One match data and JIT stack per call keeps split() reentrant.
  std::unique_ptr<pcre2_match_data, void (*)(pcre2_match_data*)> md(
      pcre2_match_data_create(1, nullptr), pcre2_match_data_free);
  std::unique_ptr<pcre2_match_context, void (*)(pcre2_match_context*)> mctx(
      pcre2_match_context_create(nullptr), pcre2_match_context_free);
  std::unique_ptr<pcre2_jit_stack, void (*)(pcre2_jit_stack*)> stack(
      pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, nullptr), pcre2_jit_stack_free);
  if (!md || !mctx || !stack) throw std::bad_alloc();
  pcre2_jit_stack_assign(mctx.get(), nullptr, stack.get());

  for (const auto& re : regexes_) {
    next.clear();
    for (std::string_view piece : cur) {
      auto subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
      size_t gap = 0, pos = 0;
      while (pos < piece.size()) {
        int rc = pcre2_match(re->code, subject, piece.size(), pos, 0, md.get(), mctx.get());
        if (rc < 0) break;  // no match (or a resource limit: keep the rest whole)
        PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
        size_t b = ov[0], e = ov[1];
        if (e <= b) {  // empty match: none of the expressions can, but never loop
          pos = b + 1;
          continue;
        }
        if (b > gap) next.push_back(piece.substr(gap, b - gap));
        next.push_back(piece.substr(b, e - b));
        gap = pos = e;
      }
      if (gap < piece.size()) next.push_back(piece.substr(gap));
    }
    cur.swap(next);
  }
  out.insert(out.end(), cur.begin(), cur.end());
}

}  // namespace tandem
