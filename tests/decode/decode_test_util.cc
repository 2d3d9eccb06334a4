#include "decode/decode_test_util.h"

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/test_models.h"
#include "tandem/base/error.h"

namespace tandem::testing {

std::string source_path(const std::string& rel) {
  const char* s = std::getenv("TANDEM_SOURCE_DIR");
  return std::string(s ? s : TANDEM_SOURCE_DIR) + "/" + rel;
}

ThreadPool& test_pool() {
  static ThreadPool pool(2);
  return pool;
}

std::vector<std::string> held_out_prompts(const std::string& domain, int n) {
  std::ifstream f(source_path("bench/prompts/" + domain + ".jsonl"));
  if (!f) fail("cannot read prompts of {}", domain);
  std::vector<std::string> out;
  std::string line;
  while (static_cast<int>(out.size()) < n && std::getline(f, line))
    out.push_back(nlohmann::json::parse(line).at("prompt").get<std::string>());
  return out;
}

Pair& tiny_pair() {
  static Pair p = [] {
    SynthSpec b = tiny_spec();
    b.n_vocab = 32;
    b.seed = 11;
    SynthSpec l = b;
    l.dim = 32;
    l.n_head = 2;
    l.n_head_kv = 2;
    l.ffn_dim = 64;
    l.n_layer = 1;
    l.seed = 12;
    Pair r;
    r.big = Model::load(write_model(b, "decode-big.gguf"));
    r.little = Model::load(write_model(l, "decode-little.gguf"));
    return r;
  }();
  return p;
}

std::unique_ptr<decode::Strategy> run_fresh(Model& big, Model* little,
                                            const std::vector<int32_t>& prompt,
                                            const decode::DecodeOptions& options) {
  const int64_t n_ctx = static_cast<int64_t>(prompt.size()) + options.max_new_tokens + 1;
  KvCache bc = big.make_cache(n_ctx, 1);
  std::unique_ptr<KvCache> lc;
  if (little) lc = std::make_unique<KvCache>(little->make_cache(n_ctx, 1));
  decode::Driver d(big, bc, little, lc.get(), test_pool());
  auto s = decode::make_strategy(prompt, options);
  d.run(*s);
  return s;
}

}  // namespace tandem::testing
