// `tandem quantize IN OUT TYPE`: re-encodes a GGUF model's weights.
#include <fmt/format.h>

#include <map>

#include "cli/commands.h"
#include "tandem/convert/quantize_model.h"

namespace tandem::cli {

void register_quantize(CLI::App& app, CommonOptions& common) {
  auto* cmd = app.add_subcommand(
      "quantize",
      "Re-encode a GGUF model's weights: F32 F16 BF16 Q8_0 Q4_0 Q4_K Q6_K, or Q4_K_M (Q6_K for "
      "output/tied embedding, attn_v and ffn_down, Q4_K elsewhere); norms and biases stay F32");
  struct Opts {
    std::string in, out, type;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("input", o->in, "Input GGUF model")->required();
  cmd->add_option("output", o->out, "Output GGUF path")->required();
  cmd->add_option("type", o->type, "Target type")->required();
  cmd->add_option("-t,--threads", common.threads, "Threads (default: all CPUs)");
  cmd->callback([o, &common] {
    const convert::TargetType type = convert::TargetType::parse(o->type);
    ThreadPool pool(common.resolved_threads());
    convert::ConvertReport r = convert::quantize_model(o->in, o->out, type, pool, true);
    std::map<std::string, int> count;
    for (const auto& [name, t] : r.tensor_types) count[std::string(dtype_name(t))]++;
    std::string types;
    for (const auto& [k, v] : count)
      types += fmt::format("{}{} x{}", types.empty() ? "" : ", ", k, v);
    fmt::print("wrote {} ({}: {}; {:.1f} MiB)\n", o->out, type.name(), types,
               r.file_bytes / 1048576.0);
  });
}

}  // namespace tandem::cli
