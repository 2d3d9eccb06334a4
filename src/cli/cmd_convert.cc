// `tandem convert llama2c CHECKPOINT TOKENIZER -o OUT` and
// `tandem convert hf FOLDER -o OUT [--type T]`: other checkpoint formats to GGUF.
#include <fmt/format.h>

#include "cli/commands.h"
#include "tandem/convert/hf.h"
#include "tandem/convert/llama2c.h"

namespace tandem::cli {

void register_convert(CLI::App& app, CommonOptions& common) {
  auto* cmd = app.add_subcommand("convert", "Convert a llama2.c or Hugging Face model to GGUF");
  cmd->require_subcommand(1);
  struct Opts {
    std::string checkpoint, tokenizer, folder, out, type = "F32";
  };
  auto o = std::make_shared<Opts>();
  auto run = [o, &common](auto&& convert) {
    ThreadPool pool(common.resolved_threads());
    convert::ConvertOptions opts;
    opts.type = convert::TargetType::parse(o->type);
    opts.pool = &pool;
    opts.verbose = true;
    convert::ConvertReport r = convert(opts);
    fmt::print("wrote {} ({} tensors, {}, {:.1f} MiB)\n", o->out, r.tensor_types.size(),
               opts.type.name(), r.file_bytes / 1048576.0);
  };

  auto* l2c = cmd->add_subcommand("llama2c", "llama2.c checkpoint (.bin) and tokenizer.bin");
  l2c->add_option("checkpoint", o->checkpoint, "llama2.c model checkpoint")->required();
  l2c->add_option("tokenizer", o->tokenizer, "llama2.c tokenizer.bin")->required();
  l2c->add_option("-o,--output", o->out, "Output GGUF path")->required();
  l2c->add_option("--type", o->type, "Weight type: F32 F16 BF16 Q8_0 Q4_0 Q4_K Q6_K Q4_K_M")
      ->default_val("F32");
  l2c->add_option("-t,--threads", common.threads, "Threads (default: all CPUs)");
  l2c->callback([o, run] {
    run([&](const convert::ConvertOptions& opts) {
      return convert::convert_llama2c(o->checkpoint, o->tokenizer, o->out, opts);
    });
  });

  auto* hf = cmd->add_subcommand(
      "hf",
      "Hugging Face folder (config.json, *.safetensors, tokenizer.json): Llama, Mistral, "
      "Qwen2");
  hf->add_option("folder", o->folder, "Model folder")->required();
  hf->add_option("-o,--output", o->out, "Output GGUF path")->required();
  hf->add_option("--type", o->type, "Weight type: F32 F16 BF16 Q8_0 Q4_0 Q4_K Q6_K Q4_K_M")
      ->default_val("F32");
  hf->add_option("-t,--threads", common.threads, "Threads (default: all CPUs)");
  hf->callback([o, run] {
    run([&](const convert::ConvertOptions& opts) {
      return convert::convert_hf(o->folder, o->out, opts);
    });
  });
  cmd->add_option("-t,--threads", common.threads, "Threads (default: all CPUs)");
}

}  // namespace tandem::cli
