// `tandem synth`: writes a random-weight GGUF model of a named or custom shape.
#include <fmt/format.h>

#include "cli/commands.h"
#include "tandem/base/error.h"
#include "tandem/model/synth.h"

namespace tandem::cli {

void register_synth(CLI::App& app, CommonOptions& common) {
  auto* cmd = app.add_subcommand(
      "synth", "Write a random-weight GGUF model of a real model's shape (for benchmarks/tests)");
  struct Opts {
    std::string shape, out, type = "F32", type_high, vocab_from, arch;
    int64_t vocab = 0, dim = 0, layers = 0, heads = 0, kv_heads = 0, ffn = 0, ctx = 0;
    bool tied = false, untied = false;
    uint64_t seed = 1;
  };
  auto o = std::make_shared<Opts>();
  std::string names;
  for (const auto& n : synth_shape_names()) names += (names.empty() ? "" : ", ") + n;
  cmd->add_option("-o,--output", o->out, "Output GGUF path")->required();
  cmd->add_option("-s,--shape", o->shape, "Named shape: " + names + " (or 'custom')")
      ->default_val("custom");
  cmd->add_option("--type", o->type, "Weight type: F32 F16 BF16 Q8_0 Q4_0 Q4_K Q6_K Q4_K_M")
      ->default_val("F32");
  cmd->add_option("--vocab-from", o->vocab_from,
                  "Copy the tokenizer from this GGUF (e.g. ../shared/tokenizer-vectors/"
                  "ggml-vocab-llama-spm.gguf)");
  cmd->add_option("--arch", o->arch, "Architecture: llama or qwen2");
  cmd->add_option("--vocab", o->vocab, "Override: vocabulary size");
  cmd->add_option("--dim", o->dim, "Override: embedding dimension");
  cmd->add_option("--layers", o->layers, "Override: number of layers");
  cmd->add_option("--heads", o->heads, "Override: attention heads");
  cmd->add_option("--kv-heads", o->kv_heads, "Override: key/value heads");
  cmd->add_option("--ffn", o->ffn, "Override: feed-forward dimension");
  cmd->add_option("--ctx", o->ctx, "Override: training context length");
  cmd->add_flag("--tied", o->tied, "Tie the output matrix to the embeddings");
  cmd->add_flag("--untied", o->untied, "Separate output matrix");
  cmd->add_option("--seed", o->seed, "Random seed")->default_val(1);
  cmd->add_option("-t,--threads", common.threads, "Threads (default: all CPUs)");
  cmd->callback([o, &common] {
    SynthSpec s;
    if (o->shape != "custom") {
      auto named = synth_shape(o->shape);
      if (!named)
        fail("unknown shape '{}' (known: {})", o->shape, fmt::join(synth_shape_names(), ", "));
      s = *named;
    }
    if (!o->arch.empty()) s.arch = o->arch;
    if (o->vocab) s.n_vocab = o->vocab;
    if (o->dim) s.dim = o->dim;
    if (o->layers) s.n_layer = o->layers;
    if (o->heads) s.n_head = s.n_head_kv = o->heads;
    if (o->kv_heads) s.n_head_kv = o->kv_heads;
    if (o->ffn) s.ffn_dim = o->ffn;
    if (o->ctx) s.n_ctx = o->ctx;
    if (o->tied) s.tied_output = true;
    if (o->untied) s.tied_output = false;
    s.seed = o->seed;
    s.vocab_from = o->vocab_from;
    if (o->type == "Q4_K_M" || o->type == "q4_k_m") {
      s.type = DType::Q4_K;
      s.type_high = DType::Q6_K;
    } else {
      auto t = dtype_from_name(o->type);
      if (!t) fail("unknown weight type '{}'", o->type);
      s.type = *t;
    }
    ThreadPool pool(common.resolved_threads());
    synth_model(s, o->out, pool, true);
    fmt::print("wrote {} ({} {}, {} layers, dim {}, vocab {})\n", o->out, s.name, o->type,
               s.n_layer, s.dim, s.n_vocab);
  });
}

}  // namespace tandem::cli
