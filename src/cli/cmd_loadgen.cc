// `tandem loadgen --url http://127.0.0.1:PORT ...`: open-loop load against a
// running OpenAI-compatible server from a named arrival process or a trace;
// prints a table, and optionally writes a JSON report and a PNG plot.
// See src/tandem/loadgen/ for the arrival grammar, the client and the report.
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "tandem/base/error.h"
#include "tandem/loadgen/arrival.h"
#include "tandem/loadgen/client.h"
#include "tandem/loadgen/report.h"
#include "tandem/loadgen/runner.h"
#include "tandem/loadgen/workload.h"

namespace tandem::cli {

namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_sigint(int) {
  g_interrupted.store(true);
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

struct Opts {
  std::string url = "http://127.0.0.1:8080";
  std::string arrival;
  std::string trace;
  std::string duration = "60s";
  bool duration_given = false;
  uint64_t seed = 1;
  std::string prompts;
  std::string domains;
  std::string max_tokens = "64";
  std::string deadline_ms = "0";
  std::string tier;
  std::string model;
  bool stream = true;
  bool chat = false;
  std::string api_key;
  std::string timeout = "60s";
  int max_inflight = 256;
  double temperature = 0;
  std::string window = "auto";
  std::string json_out;
  bool json_requests = false;
  std::string plot;
  std::string python = "/usr/bin/python3";
  std::string dump_trace;
  bool dry_run = false;
  bool quiet = false;
};

void run_loadgen(const Opts& o, const std::string& command_line) {
  using namespace tandem::loadgen;
  if (!o.arrival.empty() && !o.trace.empty()) fail("give --arrival or --trace, not both");
  const std::string arrival_spec =
      o.arrival.empty() && o.trace.empty() ? "poisson:rate=1" : o.arrival;
  WorkloadOptions wopt;
  wopt.max_tokens = IntRange::parse(o.max_tokens, "--max-tokens");
  wopt.deadline_ms = IntRange::parse(o.deadline_ms, "--deadline-ms");
  wopt.tier = o.tier;
  wopt.seed = o.seed;
  const std::string prompts_dir = o.prompts.empty() ? source_file("bench/prompts") : o.prompts;
  const auto domains = split_list(o.domains);

  std::vector<RequestSpec> workload;
  std::string workload_desc;
  double duration = parse_duration(o.duration, "--duration");
  PromptSet prompts;
  if (!o.trace.empty()) {
    if (std::filesystem::is_directory(prompts_dir)) prompts = PromptSet::load(prompts_dir, domains);
    workload = load_trace(o.trace, prompts, wopt, o.duration_given ? duration : INFINITY);
    if (!o.duration_given) duration = workload.empty() ? 0 : workload.back().t;
    workload_desc = "trace " + o.trace;
  } else {
    auto process = parse_arrival(arrival_spec);
    prompts = PromptSet::load(prompts_dir, domains);
    workload = generate_workload(*process, duration, prompts, wopt);
    workload_desc = fmt::format("{} for {}s (seed {})", process->spec(), duration, o.seed);
  }
  if (!o.dump_trace.empty()) {
    write_trace(o.dump_trace, workload);
    fmt::print(stderr, "wrote {} requests to {}\n", workload.size(), o.dump_trace);
  }
  if (o.dry_run) {
    fmt::print("{}: {} requests, mean {:.2f} req/s\n", workload_desc, workload.size(),
               duration > 0 ? workload.size() / duration : 0.0);
    return;
  }

  ClientOptions copt;
  copt.url = o.url;
  copt.api_key = o.api_key;
  copt.model = !o.model.empty() ? o.model : !o.tier.empty() ? o.tier : "tandem";
  copt.stream = o.stream;
  copt.chat = o.chat;
  copt.timeout_s = parse_duration(o.timeout, "--timeout");
  if (copt.timeout_s <= 0) fail("--timeout must be positive");
  copt.temperature = o.temperature;
  if (o.max_inflight < 1) fail("--max-inflight must be at least 1");
  Client client(copt);

  double window = 0;
  if (o.window == "auto")
    window = std::max(1.0, std::ceil(duration / 120));  // about 120 points at most
  else
    window = parse_duration(o.window, "--window");
  if (window <= 0) fail("--window must be positive");

  RunOptions ropt;
  ropt.max_inflight = o.max_inflight;
  ropt.progress_interval_s = o.quiet ? 0 : 1;
  ropt.duration_s = duration;
  if (!o.quiet)
    fmt::print(stderr, "loadgen: {} requests ({}) against {}; Ctrl-C stops early\n",
               workload.size(), workload_desc, o.url);

  g_interrupted = false;
  struct sigaction sa {
  }, old{};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;  // a second Ctrl-C kills as usual
  sigaction(SIGINT, &sa, &old);
  const RunResult run = run_load(workload, client, ropt, &g_interrupted);
  sigaction(SIGINT, &old, nullptr);

  ReportOptions rep_opt;
  rep_opt.window_s = window;
  rep_opt.duration_s = duration;
  rep_opt.include_requests = o.json_requests;
  nlohmann::json rep = build_report(workload, run, rep_opt);
  rep["command_line"] = command_line;
  rep["config"] = {{"url", o.url},
                   {"workload", workload_desc},
                   {"arrival", o.trace.empty() ? nlohmann::json(arrival_spec) : nullptr},
                   {"trace", o.trace.empty() ? nullptr : nlohmann::json(o.trace)},
                   {"duration_s", duration},
                   {"seed", o.seed},
                   {"prompts", prompts_dir},
                   {"domains", prompts.domains()},
                   {"max_tokens", wopt.max_tokens.str()},
                   {"deadline_ms", wopt.deadline_ms.str()},
                   {"tier", o.tier},
                   {"model", copt.model},
                   {"stream", copt.stream},
                   {"chat", copt.chat},
                   {"timeout_s", copt.timeout_s},
                   {"max_inflight", o.max_inflight},
                   {"window_s", window}};
  fmt::print("{}", format_report(rep));

  std::string json_path = o.json_out;
  if (json_path.empty() && !o.plot.empty())
    json_path =
        (std::filesystem::temp_directory_path() / fmt::format("tandem-loadgen-{}.json", ::getpid()))
            .string();
  if (!json_path.empty()) {
    std::ofstream f(json_path);
    // Server text may be invalid UTF-8 (a truncated error body): replace, never throw.
    f << rep.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    if (!f) fail("{}: cannot write the JSON report", json_path);
    if (!o.json_out.empty()) fmt::print("wrote {}\n", json_path);
  }
  if (!o.plot.empty()) {
    const std::string cmd = fmt::format("{} {} {} {}", shell_quote(o.python),
                                        shell_quote(source_file("bench/loadgen_plot.py")),
                                        shell_quote(json_path), shell_quote(o.plot));
    const int rc = std::system(cmd.c_str());
    if (o.json_out.empty()) std::filesystem::remove(json_path);
    if (rc != 0) fail("plotting failed ({}); the report above is complete", cmd);
    fmt::print("wrote {}\n", o.plot);
  }
}

}  // namespace

void register_loadgen(CLI::App& app, CommonOptions& common) {
  auto* cmd = app.add_subcommand(
      "loadgen", "Open-loop load against a running server; reports latency, goodput, errors");
  auto o = std::make_shared<Opts>();
  cmd->add_option("--url", o->url, "Server base URL")->default_val(o->url);
  cmd->add_option("-a,--arrival", o->arrival,
                  "Arrival process: poisson:rate=R | constant:rate=R | "
                  "bursty:on=R1,off=R0,on_s=S1,off_s=S0[,dist=exp|fixed][,start=on|off] | "
                  "step:before=R0,after=R1,at=T | diurnal:min=R0,max=R1,period=P[,phase=S] "
                  "(rates in req/s; durations in s, or with ms/s/m/h). Default poisson:rate=1");
  cmd->add_option("--trace", o->trace,
                  "JSONL trace, one request a line: {\"t\", \"prompt\" or \"domain\", "
                  "\"max_tokens\", \"deadline_ms\", \"tier\", \"task\"}");
  auto* duration = cmd->add_option("-d,--duration", o->duration,
                                   "How long to generate arrivals (e.g. 60s, 5m); with --trace, "
                                   "drop requests after it")
                       ->default_val(o->duration);
  cmd->add_option("--seed", o->seed, "Seed: same seed, same arrivals, prompts and parameters")
      ->default_val(o->seed);
  cmd->add_option("--prompts", o->prompts, "Directory of <domain>.jsonl prompts (bench/prompts)");
  cmd->add_option("--domains", o->domains, "Comma-separated domains to draw from (default: all)");
  cmd->add_option("-n,--max-tokens", o->max_tokens, "max_tokens: N, or LO-HI drawn per request")
      ->default_val(o->max_tokens);
  cmd->add_option("--deadline-ms", o->deadline_ms,
                  "deadline_ms: N, or LO-HI drawn per request (0 = none)")
      ->default_val(o->deadline_ms);
  cmd->add_option("--tier", o->tier, "Ask for this tier (default: the server's policy picks)");
  cmd->add_option("--model", o->model,
                  "\"model\" field (default: --tier, else \"tandem\": the policy picks)");
  cmd->add_flag("--stream,!--no-stream", o->stream, "Stream tokens (SSE); default on");
  cmd->add_flag("--chat", o->chat, "Use /v1/chat/completions with one user message");
  cmd->add_option("--api-key", o->api_key, "Bearer token");
  cmd->add_option("--timeout", o->timeout, "Per-request timeout")->default_val(o->timeout);
  cmd->add_option("--max-inflight", o->max_inflight,
                  "Open requests at most; arrivals beyond are counted as overflow errors")
      ->default_val(o->max_inflight);
  cmd->add_option("--temperature", o->temperature, "Sampling temperature")->default_val(0.0);
  cmd->add_option("--window", o->window, "Time-series window (auto: >= 1 s, <= ~120 windows)")
      ->default_val(o->window);
  cmd->add_option("--json", o->json_out, "Write the JSON report here");
  cmd->add_flag("--json-requests", o->json_requests, "Include one record per request in --json");
  cmd->add_option("--plot", o->plot, "Write a PNG of the run over time (needs matplotlib)");
  cmd->add_option("--python", o->python, "Python with matplotlib, for --plot")
      ->default_val(o->python);
  cmd->add_option("--dump-trace", o->dump_trace, "Write the generated workload as a trace");
  cmd->add_flag("--dry-run", o->dry_run, "Build the workload (and --dump-trace it); send nothing");
  cmd->add_flag("-q,--quiet", o->quiet, "No progress on stderr");
  cmd->callback([o, duration, &common] {
    o->duration_given = duration->count() > 0;
    run_loadgen(*o, common.command_line);
  });
}

}  // namespace tandem::cli
