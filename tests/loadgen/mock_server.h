// MockServer — a tiny in-process stand-in for `tandem serve`, for testing the
// load generator. It listens on 127.0.0.1 on a free port and answers
// POST /v1/completions and /v1/chat/completions according to the prompt (or
// the first message's content), which is a behaviour name:
//
//   ok:N:D[:F]   N content chunks "t0 ", "t1 ", ... (D ms apart, the first after
//                F ms, default D); usage.completion_tokens = N when asked for.
//                Non-streaming: one JSON completion after F + (N-1)*D ms.
//   429          429 queue_full with Retry-After: 3
//   408          408 deadline_exceeded
//   503 | 400 | 500   that status with an OpenAI error object
//   deadline-mid 2 chunks, then an error event (deadline_exceeded), then [DONE]
//   close        2 chunks, then the connection is dropped mid-stream
//   hang         never answers (until the server is destroyed)
//   stall        1 chunk, then nothing more
//   garbage      200 text/event-stream whose event is not JSON
//   garbage-json 200 application/json whose body is HTML
//   no-done      2 chunks and a clean end of stream without [DONE]
//   anything else: as ok:M:5 with M = the request's max_tokens
// The "tier" of responses is the request's "tier", else "mock".
//
// Ownership: the server thread is owned; the destructor releases hung
// handlers and joins. Thread safety: requests() may be called while serving.
#pragma once

#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace tandem::loadgen::testing {

struct SeenRequest {
  std::string path;
  nlohmann::json body;
  std::string authorization;
  std::string request_id;
};

class MockServer {
 public:
  MockServer();
  ~MockServer();
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<SeenRequest> requests();

 private:
  void handle(const httplib::Request& req, httplib::Response& res);
  // Sleeps up to ms; returns false when the server is shutting down.
  bool sleep_ms(double ms);

  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<SeenRequest> seen_;
};

// A port on 127.0.0.1 that nothing listens on (bound, then released).
int unused_port();

}  // namespace tandem::loadgen::testing
