// Helpers for the server tests: an in-process tandem server over the demo
// models on a free 127.0.0.1 port, and a small HTTP client that can read
// server-sent events (and hang up mid-stream).
// Not thread-safe unless stated; each test owns its TestServer.
#pragma once

#include <httplib.h>

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tandem/serve/engine.h"
#include "tandem/serve/server.h"

namespace tandem::testing {

std::string source_path(const std::string& rel);

struct TestServerOptions {
  serve::EngineOptions engine;
  serve::ServerOptions server;
  std::string policy;  // "" = fixed:<first tier>
  bool with_little = true;
};

class TestServer {
 public:
  explicit TestServer(TestServerOptions o = {});
  ~TestServer();
  int port() const { return port_; }
  httplib::Client client() const;
  serve::Engine& engine() { return *engine_; }
  serve::Server& server() { return *server_; }
  serve::Metrics& metrics() { return metrics_; }

 private:
  serve::Metrics metrics_;
  std::unique_ptr<serve::Server> server_;
  std::unique_ptr<serve::Engine> engine_;
  std::thread listener_;
  int port_ = 0;
};

// POST `body` to `path` and collect the SSE `data:` payloads (in order) until
// the stream ends, or until `stop_after` payloads were read (then hang up).
struct SseResult {
  int status = 0;
  std::vector<std::string> data;  // payloads, "[DONE]" included
  std::string raw;                // the whole body when the status is not 200
  std::string retry_after;
  std::string error;  // the client's error when no response came
};
SseResult post_sse(httplib::Client& c, const std::string& path, const nlohmann::json& body,
                   size_t stop_after = 0, const httplib::Headers& headers = {});

// Reads an engine stream to its terminal event (finished or error) and returns
// it; nothing when some event took longer than `timeout` to come.
std::optional<serve::Event> final_event(serve::RequestStream& stream,
                                        std::chrono::seconds timeout = std::chrono::seconds(60));

// Polls `pred` for up to `seconds`; true once it holds.
bool eventually(const std::function<bool()>& pred, double seconds = 5.0);

}  // namespace tandem::testing
