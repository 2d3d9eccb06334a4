// `tandem serve`: the OpenAI-compatible HTTP server over a tier configuration
// (or a big model and an optional little one). See src/tandem/serve/server.h.
// Signals: the first SIGTERM/SIGINT drains (health 503, new requests 503,
// in-flight ones finish within --grace-seconds), the second stops at once.
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <thread>

#include "cli/commands.h"
#include "tandem/base/error.h"
#include "tandem/serve/engine.h"
#include "tandem/serve/server.h"

namespace tandem::cli {

namespace {

struct ServeFlags {
  std::string model, draft, config, policy, port_file;
  serve::ServerOptions server;
  serve::EngineOptions engine;
  double default_deadline_ms = 0;
  double idle_spin_ms = 1000;
  std::string routing_deadline_ms = "auto";
  double grace_s = 30;
};

}  // namespace

void register_serve(CLI::App& app, CommonOptions& common) {
  auto o = std::make_shared<ServeFlags>();
  CLI::App* cmd = app.add_subcommand("serve", "Serve an OpenAI-compatible HTTP API");
  cmd->add_option("-m,--model", o->model,
                  "Big model GGUF (tiers: big, and with -d: spec, bild, little)");
  cmd->add_option("-d,--draft", o->draft, "Little model GGUF for the spec/bild/little tiers");
  cmd->add_option("--config", o->config, "Tier configuration JSON (instead of -m/-d)");
  cmd->add_option("--policy", o->policy,
                  "Tier policy for requests that name none: fixed:<tier> or queue:<n1>,<n2>,... "
                  "(default: the config's, else fixed:<first tier>)");
  cmd->add_option("--host", o->server.host, "Address to bind (default 127.0.0.1)");
  cmd->add_option("--port", o->server.port, "Port (0: any free port)")->capture_default_str();
  cmd->add_option("--port-file", o->port_file, "Write the bound port to this file once listening");
  cmd->add_option("--api-key", o->server.api_key,
                  "Require 'Authorization: Bearer KEY' on /v1 (default: $TANDEM_API_KEY if set)");
  cmd->add_option("--served-name", o->server.served_name, "Model id that lets the policy pick")
      ->capture_default_str();
  cmd->add_option("--chat-template", o->server.chat_template,
                  "Chat template name (default: detect)");
  cmd->add_option("--slots", o->engine.slots, "Concurrent sequences")->capture_default_str();
  cmd->add_option("-c,--ctx", o->engine.n_ctx, "Context per sequence (0: model's, at most 2048)")
      ->capture_default_str();
  cmd->add_option("--max-queued-requests", o->engine.max_queued_requests,
                  "Waiting requests before 429")
      ->capture_default_str();
  cmd->add_option("--max-queued-tokens", o->engine.max_queued_tokens,
                  "Waiting prompt+max tokens before 429")
      ->capture_default_str();
  cmd->add_option("--prefill-chunk", o->engine.prefill_chunk, "Prompt tokens per sequence per step")
      ->capture_default_str();
  cmd->add_option("--batch-tokens", o->engine.batch_tokens, "Token budget per engine step")
      ->capture_default_str();
  cmd->add_option("--default-deadline-ms", o->default_deadline_ms,
                  "Deadline of requests that give no deadline_ms (0: none)")
      ->capture_default_str();
  cmd->add_option("--routing-deadline-ms", o->routing_deadline_ms,
                  "Deadline the policy assumes when routing a request that gives none (not "
                  "enforced): auto = the policy's own (learned: the middle of the deadline range "
                  "it was trained on; static: none), 0 = none, or milliseconds")
      ->capture_default_str();
  cmd->add_option("--idle-spin-ms", o->idle_spin_ms,
                  "When out of work, poll this long for new requests before sleeping (keeps a "
                  "virtual machine's CPU from idling between requests; 0 = sleep at once)")
      ->check(CLI::Range(0.0, 10000.0))
      ->capture_default_str();
  cmd->add_option("--default-max-tokens", o->server.default_max_tokens,
                  "max_tokens of requests that give none")
      ->capture_default_str();
  cmd->add_option("--grace-seconds", o->grace_s, "On SIGTERM, time allowed for in-flight requests")
      ->capture_default_str();
  cmd->add_option("-t,--threads", common.threads, "Compute threads (default: all CPUs)");
  cmd->callback([o, &common] {
    // Logs (one line per request) go to stderr; stdout stays free for tools.
    spdlog::set_default_logger(spdlog::stderr_color_mt("serve"));
    if (o->config.empty() == o->model.empty())
      fail("give either --config TIERS.json or -m MODEL.gguf (with an optional -d LITTLE.gguf)");
    if (o->server.api_key.empty())
      if (const char* k = std::getenv("TANDEM_API_KEY")) o->server.api_key = k;
    serve::ServeConfig config = o->config.empty() ? serve::default_serve_config(o->model, o->draft)
                                                  : serve::load_serve_config(o->config);
    const std::string policy_spec = !o->policy.empty()       ? o->policy
                                    : !config.policy.empty() ? config.policy
                                                             : "fixed:" + config.tiers[0].name;
    std::unique_ptr<serve::Policy> policy = serve::make_policy(policy_spec, config.tiers);
    o->engine.threads = common.resolved_threads();
    o->server.default_deadline_s = o->default_deadline_ms / 1000.0;
    o->engine.idle_spin_s = o->idle_spin_ms / 1000.0;
    if (o->routing_deadline_ms == "auto") {
      o->engine.routing_deadline_s = -1;
    } else {
      double ms = -1;
      try {
        size_t used = 0;
        ms = std::stod(o->routing_deadline_ms, &used);
        if (used != o->routing_deadline_ms.size()) ms = -1;
      } catch (const std::exception&) {
      }
      if (!(ms >= 0) || !std::isfinite(ms))
        fail("--routing-deadline-ms: expected auto, 0 or a number of milliseconds, got '{}'",
             o->routing_deadline_ms);
      o->engine.routing_deadline_s = ms / 1000.0;
    }

    // Signals go to one thread that waits for them; every other thread blocks them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    serve::Metrics metrics;
    serve::declare_serving_metrics(metrics);
    serve::Server server(o->server, metrics);
    const int port = server.bind();
    spdlog::info("listening on http://{}:{} (loading models; /health is 503 until ready)",
                 o->server.host, port);
    if (!o->port_file.empty()) {
      std::ofstream(o->port_file + ".tmp") << port << "\n";
      std::rename((o->port_file + ".tmp").c_str(), o->port_file.c_str());
    }

    std::unique_ptr<serve::Engine> engine;
    std::atomic<serve::Engine*> ready{nullptr};  // what the signal thread may look at
    std::string load_error;
    std::thread loader([&] {
      try {
        engine = std::make_unique<serve::Engine>(config, o->engine, std::move(policy), metrics);
        engine->start();
        server.set_engine(engine.get());
        ready.store(engine.get());
        spdlog::info("ready: {} tiers, policy {}, {} slots of {} tokens",
                     engine->config().tiers.size(), engine->policy().name(), engine->slots(),
                     engine->n_ctx());
      } catch (const std::exception& e) {
        load_error = e.what();
        server.stop();
      }
    });
    std::thread waiter([&] {
      int sig = 0;
      sigwait(&signals, &sig);
      spdlog::info("signal {}: draining (grace {} s); signal again to stop now", sig, o->grace_s);
      server.begin_shutdown();
      // A second signal, the grace period or an idle engine ends the wait.
      std::thread second([&] {
        int s2 = 0;
        sigwait(&signals, &s2);
        server.stop();
      });
      second.detach();
      const auto until = std::chrono::steady_clock::now() +
                         std::chrono::milliseconds(static_cast<int64_t>(o->grace_s * 1000));
      while (std::chrono::steady_clock::now() < until) {
        if (serve::Engine* e = ready.load(); !e || e->idle()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      // Let the last responses flush before the sockets close.
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      server.stop();
    });
    server.listen();
    loader.join();
    if (!load_error.empty()) {
      pthread_kill(waiter.native_handle(), SIGTERM);
      waiter.join();
      fail("{}", load_error);
    }
    if (engine) engine->stop();
    // listen() returned: either the waiter stopped it or the server failed.
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
    spdlog::info("stopped");
  });
}

}  // namespace tandem::cli
