// tandem — command-line entry point. See `tandem --help`.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "tandem/base/error.h"
#include "tandem/base/thread_pool.h"

namespace tandem::cli {
int CommonOptions::resolved_threads() const {
  return threads > 0 ? threads : ThreadPool::default_threads();
}
}  // namespace tandem::cli

int main(int argc, char** argv) {
  CLI::App app{"tandem: a fast, load-aware LLM inference engine for GGUF models"};
  app.require_subcommand(1);
  tandem::cli::CommonOptions common;
  for (int i = 0; i < argc; ++i) common.command_line += (i ? " " : "") + std::string(argv[i]);
  tandem::cli::register_info(app, common);
  tandem::cli::register_synth(app, common);
  tandem::cli::register_bench(app, common);
  tandem::cli::register_run(app, common);
  tandem::cli::register_tokenize(app, common);
  tandem::cli::register_perplexity(app, common);
  tandem::cli::register_convert(app, common);
  tandem::cli::register_quantize(app, common);
  tandem::cli::register_serve(app, common);
  tandem::cli::register_loadgen(app, common);
  tandem::cli::register_router(app, common);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const tandem::Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  return 0;
}
