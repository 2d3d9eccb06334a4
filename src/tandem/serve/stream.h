// RequestStream — the channel between the engine loop, which produces a
// request's text, and the HTTP thread that answers it.
//
// Contract: the engine push()es events in order: any number of kText, then
// exactly one terminal event (kFinished or kError); after it, nothing. The HTTP
// side pops them with next() (blocking with a timeout) and calls cancel() when
// the client has gone, which the engine notices at its next iteration and
// frees the sequence. Shared by both sides through shared_ptr.
// Thread safety: all methods are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "tandem/decode/stats.h"

namespace tandem::serve {

// An error in the OpenAI error-object form, with its HTTP status.
struct ApiError {
  int status = 500;
  std::string type;  // invalid_request_error, authentication_error, rate_limit_error, ...
  std::string code;  // queue_full, deadline_exceeded, unavailable, context_length_exceeded, ...
  std::string message;
  std::string param;      // the offending request field, if any
  int retry_after_s = 0;  // > 0: send a Retry-After header
};

enum class FinishReason { kStop, kLength };

struct Event {
  enum class Kind { kText, kFinished, kError };
  Kind kind = Kind::kText;
  std::string text;                           // kText
  FinishReason finish = FinishReason::kStop;  // kFinished
  int64_t prompt_tokens = 0;                  // kFinished
  int64_t completion_tokens = 0;              // kFinished
  decode::DecodeStats stats;                  // kFinished: the decode strategy's counters
  ApiError error;                             // kError

  static Event text_chunk(std::string t) {
    Event e;
    e.text = std::move(t);
    return e;
  }
  static Event failure(ApiError err) {
    Event e;
    e.kind = Kind::kError;
    e.error = std::move(err);
    return e;
  }
};

class RequestStream {
 public:
  RequestStream(std::string id, std::string tier) : id_(std::move(id)), tier_(std::move(tier)) {}

  const std::string& id() const { return id_; }
  const std::string& tier() const { return tier_; }

  void push(Event e) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(std::move(e));
    }
    cv_.notify_all();
  }
  // The next event, or nullopt if none came within `timeout`.
  std::optional<Event> next(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return std::nullopt;
    Event e = std::move(events_.front());
    events_.pop_front();
    return e;
  }
  void cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

 private:
  const std::string id_;
  const std::string tier_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> events_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace tandem::serve
