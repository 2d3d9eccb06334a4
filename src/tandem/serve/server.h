// Server — tandem's HTTP front end (cpp-httplib): the OpenAI-compatible API,
// health, Prometheus metrics and the dashboard, over an Engine.
//
// Contract: the server listens before the models are loaded: /health answers
// 503 {"status":"loading"} and the API 503 until set_engine() hands it a ready
// engine. Routes:
//   POST /v1/completions, /v1/chat/completions   (Bearer key when configured)
//   GET  /v1/models                              the served name and one id per tier
//   GET  /health                                 200 ready, 503 loading / draining
//   GET  /metrics                                Prometheus text format
//   GET  /, /dashboard.js, /dashboard.css         the live dashboard
// Every response echoes x-request-id (a fresh one is made when absent) and
// errors are OpenAI error objects. Streaming answers are server-sent events
// ending in `data: [DONE]`; a client that goes away mid-stream is noticed
// within ~0.25 s (keep-alive comments) and its sequence is freed.
// begin_shutdown() drains: /health turns 503, new requests get 503, in-flight
// ones finish; listen() returns after stop().
// Thread safety: handlers run on the HTTP worker threads; set_engine(),
// begin_shutdown() and stop() may be called from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "tandem/serve/api.h"
#include "tandem/serve/engine.h"
#include "tandem/serve/metrics.h"

namespace httplib {
class Server;
}

namespace tandem::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (see bind())
  std::string api_key;
  std::string served_name = "tandem";
  std::string chat_template;  // "" = detect from the model (chatml when it has none)
  double default_deadline_s = 0;
  int64_t default_max_tokens = 256;
  int http_threads = 0;  // 0: enough for the queue plus the slots
};

// Declares the families the engine and server update; call once per Metrics.
void declare_serving_metrics(Metrics& m);

class Server {
 public:
  Server(ServerOptions options, Metrics& metrics);
  ~Server();

  // Binds the socket; returns the port (useful with port 0). Throws on failure.
  int bind();
  // Serves until stop(); call after bind().
  void listen();
  void set_engine(Engine* engine);
  void begin_shutdown();
  void stop();

 private:
  void routes();
  bool authorized(const std::string& header) const;

  ServerOptions options_;
  Metrics& metrics_;
  std::unique_ptr<httplib::Server> http_;
  std::atomic<Engine*> engine_{nullptr};
  std::atomic<bool> shutting_down_{false};
  std::unique_ptr<ChatTemplate> chat_template_;
  int64_t created_ = 0;
};

}  // namespace tandem::serve
