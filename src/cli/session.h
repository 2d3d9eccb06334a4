// Session — what the text commands (run, perplexity) share: a loaded model, its
// tokenizer, a thread pool and a one-sequence KV cache sized to the context.
// Not thread-safe; one per command invocation.
#pragma once

#include <algorithm>
#include <memory>
#include <string>

#include "tandem/base/error.h"
#include "tandem/base/thread_pool.h"
#include "tandem/gguf/reader.h"
#include "tandem/model/model.h"
#include "tandem/tokenizer/tokenizer.h"

namespace tandem::cli {

struct Session {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<ThreadPool> pool;
  KvCache cache;
  int64_t n_ctx;

  // ctx == 0: the model's training context, capped at default_cap when that is > 0.
  Session(const std::string& path, int threads, int64_t ctx, int64_t default_cap = 0)
      : model(Model::load(path)),
        tokenizer(Tokenizer::from_gguf(model->file())),
        pool(std::make_unique<ThreadPool>(threads)),
        cache(model->make_cache(resolve_ctx(*model, ctx, default_cap), 1)),
        n_ctx(cache.n_ctx()) {}

  static int64_t resolve_ctx(const Model& m, int64_t ctx, int64_t default_cap) {
    if (ctx < 0) fail("context size must be positive, got {}", ctx);
    if (ctx > 0) return ctx;
    const int64_t train = m.config().n_ctx_train;
    return default_cap > 0 ? std::min(train, default_cap) : train;
  }

  // Refuses a prompt that leaves no room in the context.
  void check_fits(int64_t prompt_tokens, int64_t to_generate) const {
    if (prompt_tokens > n_ctx)
      fail(
          "the prompt has {} tokens but the context holds {}; shorten the prompt or raise -c "
          "(the model was trained with {})",
          prompt_tokens, n_ctx, model->config().n_ctx_train);
    (void)to_generate;  // generation stops at the end of the context
  }
};

// The little model of speculative decoding with its own one-sequence cache of
// the session's context size; empty when no path is given.
struct DraftModel {
  std::unique_ptr<Model> model;
  std::unique_ptr<KvCache> cache;

  DraftModel(const std::string& path, const Model& big, int64_t n_ctx) {
    if (path.empty()) return;
    model = Model::load(path);
    if (model->config().n_vocab != big.config().n_vocab)
      fail("{}: vocabulary of {} tokens, but the big model has {}; the pair must share a tokenizer",
           path, model->config().n_vocab, big.config().n_vocab);
    // Same size is not enough: token ids must mean the same text in both models.
    const gguf::Value* mine = model->file().find("tokenizer.ggml.tokens");
    const gguf::Value* theirs = big.file().find("tokenizer.ggml.tokens");
    if (mine && theirs && mine->as_string_array() != theirs->as_string_array())
      fail("{}: its token list differs from the big model's ({}); the pair must share a tokenizer",
           path, big.file().path());
    cache = std::make_unique<KvCache>(model->make_cache(n_ctx, 1));
  }
};

}  // namespace tandem::cli
