// The `tandem` command-line tool's subcommands. Each register_* adds one
// subcommand (its flags and its action) to the CLI11 app; actions throw
// tandem::Error for anything the user can fix, and main() prints it.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace tandem::cli {

// Common flags every command takes.
struct CommonOptions {
  int threads = 0;           // -t; 0 = all online CPUs
  std::string command_line;  // argv joined, recorded in benchmark results
  int resolved_threads() const;
};

void register_info(CLI::App& app, CommonOptions& common);
void register_synth(CLI::App& app, CommonOptions& common);
void register_bench(CLI::App& app, CommonOptions& common);
void register_run(CLI::App& app, CommonOptions& common);
void register_tokenize(CLI::App& app, CommonOptions& common);
void register_perplexity(CLI::App& app, CommonOptions& common);
void register_convert(CLI::App& app, CommonOptions& common);
void register_quantize(CLI::App& app, CommonOptions& common);
void register_serve(CLI::App& app, CommonOptions& common);
void register_loadgen(CLI::App& app, CommonOptions& common);
void register_router(CLI::App& app, CommonOptions& common);

// `tandem router profile` with its defaults for the rest (the action behind
// `tandem bench --tiers CONFIG`); writes the profile JSON to `out`.
void profile_tiers(const std::string& config, const std::string& prompts, int per_domain,
                   int repeats, const std::string& out, const CommonOptions& common);

}  // namespace tandem::cli
