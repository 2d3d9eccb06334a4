// Client — sends one completion request to an OpenAI-compatible server
// (`tandem serve`) over HTTP/1.1 (cpp-httplib) and measures it.
//
// For a streaming request it parses server-sent events as they arrive and
// timestamps every content chunk, so it yields time to first token, the
// per-token times, the reassembled text, and the token count both as
// "chunks streamed" and as the server's usage.completion_tokens (it asks for
// stream_options.include_usage). Every way a request can end is reduced to one
// Outcome; nothing a server does (refuse the connection, answer garbage, close
// mid-stream, hang) throws or blocks longer than the per-request timeout
// (plus one read-timeout granule if the server stalls mid-response).
//
// Times: RequestResult times are seconds since the run's start; latencies are
// measured from the *scheduled* arrival (open-loop: a late dispatch counts
// against the request, not hidden).
//
// Thread safety: send() may be called from many threads at once; each call
// uses its own connection. cancel_all() may be called from any thread: it
// aborts every in-flight request (they end as kCancelled) and makes later
// send() calls return kCancelled at once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "tandem/loadgen/workload.h"

namespace tandem::loadgen {

enum class Outcome : int {
  kOk = 0,
  kQueueFull,       // HTTP 429 (code queue_full)
  kDeadline,        // HTTP 408 (code deadline_exceeded), before any token
  kDeadlineStream,  // error event with code deadline_exceeded after streaming began
  kUnavailable,     // HTTP 503
  kClient4xx,       // any other 4xx (400, 401, 404, ...)
  kServer5xx,       // any other 5xx
  kStreamError,     // an error event mid-stream with another code
  kBadResponse,     // unparseable body or events, or an unexpected status
  kConnection,      // could not connect, or closed before any response
  kDisconnected,    // the server closed the connection mid-response
  kTimeout,         // no complete answer within the per-request timeout
  kOverflow,        // not sent: the client already had max-inflight requests open
  kCancelled,       // aborted by the user (Ctrl-C)
  kCount
};

// Stable snake_case names used in reports: "ok", "queue_full_429", "deadline_408",
// "deadline_stream", "unavailable_503", "client_4xx", "server_5xx", "stream_error",
// "bad_response", "connection", "disconnected", "timeout", "overflow", "cancelled".
const char* outcome_name(Outcome o);

struct ClientOptions {
  std::string url = "http://127.0.0.1:8080";  // scheme://host:port, http only
  std::string api_key;                        // sent as "Authorization: Bearer KEY"
  std::string model = "tandem";  // the "model" field (tandem serve's --served-name default)
  bool stream = true;
  bool chat = false;  // /v1/chat/completions with one user message
  double timeout_s = 60;
  double temperature = 0;
};

struct RequestResult {
  int64_t index = -1;
  Outcome outcome = Outcome::kConnection;
  int http_status = 0;              // 0 when no response line was read
  double t_sched = 0;               // scheduled arrival
  double t_sent = 0;                // when the request was handed to the socket
  double t_end = 0;                 // when the outcome was known
  double ttft_s = -1;               // first content chunk - t_sched (streaming only; -1 = none)
  std::vector<double> token_times;  // arrival of each content chunk, since t_sched
  int64_t chunks = 0;               // content chunks (non-empty deltas) received
  int64_t usage_completion_tokens = -1;  // from "usage" when the server sent it
  int64_t usage_prompt_tokens = -1;
  std::string text;  // reassembled output
  std::string tier;  // "tier" of the response
  std::string finish_reason;
  std::string error_code;  // OpenAI error code, or a transport error name
  std::string error_message;
  double retry_after_s = -1;  // Retry-After of a 429, -1 when absent

  double latency_s() const { return t_end - t_sched; }
  // usage.completion_tokens when known, else the number of content chunks.
  int64_t output_tokens() const;
  // (last token - first token) / (tokens - 1) over streamed tokens; -1 if < 2.
  double tpot_s() const;
};

// Base URL "http://host:port" split into parts; throws tandem::Error otherwise.
struct Endpoint {
  std::string host;
  int port = 80;
  static Endpoint parse(const std::string& url);
};

class Client {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Client(ClientOptions opt);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  RequestResult send(const RequestSpec& req, Clock::time_point run_start);
  void cancel_all();
  bool cancelled() const { return cancelled_.load(); }
  const ClientOptions& options() const { return opt_; }

 private:
  std::string body_for(const RequestSpec& req) const;

  ClientOptions opt_;
  Endpoint ep_;
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  std::set<void*> inflight_;  // httplib::Client* of requests in progress
};

}  // namespace tandem::loadgen
