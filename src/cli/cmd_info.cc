// `tandem info FILE`: prints a GGUF file's metadata and tensors, and the model
// configuration when it is a model tandem can run.
#include <fmt/format.h>

#include "cli/commands.h"
#include "tandem/gguf/reader.h"
#include "tandem/model/model.h"

namespace tandem::cli {

namespace {
std::string summarize(const gguf::Value& v) {
  switch (v.type()) {
    case gguf::ValueType::STRING: {
      const std::string& s = v.as_string();
      return s.size() > 80 ? fmt::format("\"{}...\" ({} bytes)", s.substr(0, 77), s.size())
                           : fmt::format("\"{}\"", s);
    }
    case gguf::ValueType::ARRAY:
      return fmt::format("[{} x {}]", v.array_size(), gguf::value_type_name(v.array_type()));
    case gguf::ValueType::FLOAT32:
    case gguf::ValueType::FLOAT64:
      return fmt::format("{}", v.as_float());
    case gguf::ValueType::BOOL:
      return v.as_bool() ? "true" : "false";
    default:
      return fmt::format("{}", v.as_int());
  }
}
}  // namespace

void register_info(CLI::App& app, CommonOptions& common) {
  auto* cmd = app.add_subcommand("info", "Print a GGUF file's metadata, tensors and model shape");
  auto path = std::make_shared<std::string>();
  auto tensors = std::make_shared<bool>(false);
  cmd->add_option("file", *path, "GGUF file")->required();
  cmd->add_flag("--tensors", *tensors, "List every tensor");
  cmd->add_option("-t,--threads", common.threads, "Threads (unused here)");
  cmd->callback([path, tensors] {
    auto f = gguf::File::open(*path);
    fmt::print("{}: GGUF v{}, {} metadata keys, {} tensors, {:.1f} MiB\n", *path, f->version(),
               f->metadata().size(), f->tensors().size(), f->file_size() / 1048576.0);
    for (const auto& [key, value] : f->metadata())
      fmt::print("  {:<44} {}\n", key, summarize(value));
    if (*tensors) {
      for (const auto& t : f->tensors()) {
        std::string shape;
        for (size_t i = 0; i < t.shape.size(); ++i)
          shape += (i ? "x" : "") + std::to_string(t.shape[i]);
        fmt::print("  {:<36} {:<6} {:<16} {:>12} bytes\n", t.name, dtype_name(t.type), shape,
                   t.nbytes);
      }
    }
    if (f->find("general.architecture") && f->find_tensor("token_embd.weight")) {
      auto m = Model::load(*path);
      const ModelConfig& c = m->config();
      fmt::print(
          "model: {} vocab={} dim={} layers={} heads={} kv_heads={} head_dim={} ffn={} ctx={} "
          "rope_base={} tied_output={}, {:.1f} MiB read per token\n",
          c.arch, c.n_vocab, c.dim, c.n_layer, c.n_head, c.n_head_kv, c.head_dim, c.ffn_dim,
          c.n_ctx_train, c.rope_base, m->weights().tied_output,
          m->weights().bytes_per_token() / 1048576.0);
    }
  });
}

}  // namespace tandem::cli
