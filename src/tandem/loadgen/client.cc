#include "tandem/loadgen/client.h"

#include <fmt/format.h>
#include <httplib.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "tandem/base/error.h"

namespace tandem::loadgen {

namespace {

using json = nlohmann::json;

constexpr size_t kMaxBody = 4 << 20;  // a non-streamed body larger than this is garbage

double seconds(Client::Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// What the response callbacks learn while the request is in flight.
struct Progress {
  int status = 0;
  bool sse = false;
  bool done = false;       // saw data: [DONE]
  bool bad = false;        // unparseable event
  bool too_big = false;    // body over kMaxBody
  bool timed_out = false;  // the total timeout ran out while data was arriving
  bool stream_error = false;
  std::string buf;  // SSE bytes not yet split into events, or the whole body
};

std::string string_at(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int64_t int_at(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : -1;
}

void read_error_object(const json& err, RequestResult& r) {
  if (!err.is_object()) return;
  r.error_code = string_at(err, "code");
  if (r.error_code.empty()) r.error_code = string_at(err, "type");
  r.error_message = string_at(err, "message");
}

void read_usage(const json& j, RequestResult& r) {
  auto it = j.find("usage");
  if (it == j.end() || !it->is_object()) return;
  r.usage_completion_tokens = int_at(*it, "completion_tokens");
  r.usage_prompt_tokens = int_at(*it, "prompt_tokens");
}

}  // namespace

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::kOk:
      return "ok";
    case Outcome::kQueueFull:
      return "queue_full_429";
    case Outcome::kDeadline:
      return "deadline_408";
    case Outcome::kDeadlineStream:
      return "deadline_stream";
    case Outcome::kUnavailable:
      return "unavailable_503";
    case Outcome::kClient4xx:
      return "client_4xx";
    case Outcome::kServer5xx:
      return "server_5xx";
    case Outcome::kStreamError:
      return "stream_error";
    case Outcome::kBadResponse:
      return "bad_response";
    case Outcome::kConnection:
      return "connection";
    case Outcome::kDisconnected:
      return "disconnected";
    case Outcome::kTimeout:
      return "timeout";
    case Outcome::kOverflow:
      return "overflow";
    case Outcome::kCancelled:
      return "cancelled";
    case Outcome::kCount:
      break;
  }
  return "?";
}

int64_t RequestResult::output_tokens() const {
  return usage_completion_tokens >= 0 ? usage_completion_tokens : chunks;
}

double RequestResult::tpot_s() const {
  if (token_times.size() < 2) return -1;
  // Spread over the tokens the server says it produced when it batched
  // several per chunk; else over the chunks.
  const int64_t n = std::max<int64_t>(output_tokens(), static_cast<int64_t>(token_times.size()));
  return (token_times.back() - token_times.front()) / static_cast<double>(n - 1);
}

Endpoint Endpoint::parse(const std::string& url) {
  std::string_view rest = url;
  if (rest.starts_with("https://"))
    fail("--url {}: https is not supported; use http:// (tandem serve speaks plain HTTP)", url);
  if (rest.starts_with("http://")) rest.remove_prefix(7);
  while (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos)
    fail("--url {}: give only scheme://host:port, without a path", url);
  Endpoint ep;
  const size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos) {
    ep.host = std::string(rest);
  } else {
    ep.host = std::string(rest.substr(0, colon));
    const std::string_view p = rest.substr(colon + 1);
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), ep.port);
    if (p.empty() || ec != std::errc() || ptr != p.data() + p.size() || ep.port <= 0 ||
        ep.port > 65535)
      fail("--url {}: '{}' is not a port number", url, p);
  }
  if (ep.host.empty()) fail("--url {}: no host (expected e.g. http://127.0.0.1:8080)", url);
  return ep;
}

Client::Client(ClientOptions opt) : opt_(std::move(opt)), ep_(Endpoint::parse(opt_.url)) {}

Client::~Client() = default;

std::string Client::body_for(const RequestSpec& req) const {
  json j = {{"model", opt_.model},
            {"max_tokens", req.max_tokens},
            {"temperature", opt_.temperature},
            {"top_p", 1},
            {"seed", req.seed},
            {"stream", opt_.stream}};
  if (opt_.chat)
    j["messages"] = json::array({{{"role", "user"}, {"content", req.prompt}}});
  else
    j["prompt"] = req.prompt;
  if (opt_.stream) j["stream_options"] = {{"include_usage", true}};
  if (req.deadline_ms > 0) j["deadline_ms"] = req.deadline_ms;
  if (!req.tier.empty()) j["tier"] = req.tier;
  if (!req.task.empty()) j["task"] = req.task;
  return j.dump();
}

void Client::cancel_all() {
  cancelled_.store(true);
  std::lock_guard lock(mu_);
  for (void* p : inflight_) static_cast<httplib::Client*>(p)->stop();
}

RequestResult Client::send(const RequestSpec& req, Clock::time_point run_start) {
  RequestResult r;
  r.index = req.index;
  r.t_sched = req.t;
  auto since_start = [&] { return seconds(Clock::now() - run_start); };
  r.t_sent = since_start();
  if (cancelled_.load()) {
    r.outcome = Outcome::kCancelled;
    r.t_end = r.t_sent;
    return r;
  }

  httplib::Client cli(ep_.host, ep_.port);
  const auto timeout = std::chrono::duration<double>(opt_.timeout_s);
  const auto timeout_us = std::chrono::duration_cast<std::chrono::microseconds>(timeout);
  cli.set_connection_timeout(timeout_us);
  cli.set_read_timeout(timeout_us);
  cli.set_write_timeout(timeout_us);
  cli.set_keep_alive(false);
  {
    std::lock_guard lock(mu_);
    inflight_.insert(&cli);
  }
  struct Unregister {
    Client* self;
    void* cli;
    ~Unregister() {
      std::lock_guard lock(self->mu_);
      self->inflight_.erase(cli);
    }
  } unregister{this, &cli};
  if (cancelled_.load()) {  // cancel_all() ran between the first check and insert()
    r.outcome = Outcome::kCancelled;
    r.t_end = since_start();
    return r;
  }

  httplib::Request hr;
  hr.method = "POST";
  hr.path = opt_.chat ? "/v1/chat/completions" : "/v1/completions";
  hr.set_header("Content-Type", "application/json");
  hr.set_header("Accept", opt_.stream ? "text/event-stream" : "application/json");
  hr.set_header("x-request-id", fmt::format("loadgen-{}-{}", req.index, req.seed));
  if (!opt_.api_key.empty()) hr.set_header("Authorization", "Bearer " + opt_.api_key);
  hr.body = body_for(req);

  Progress st;
  const auto t_sent_tp = Clock::now();
  auto on_event = [&](std::string_view data) {
    if (data == "[DONE]") {
      st.done = true;
      return;
    }
    const json j = json::parse(data, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      st.bad = true;
      r.error_message = fmt::format("unparseable event: {:.80}", data);
      return;
    }
    if (auto e = j.find("error"); e != j.end()) {
      st.stream_error = true;
      read_error_object(*e, r);
      return;
    }
    if (auto t = string_at(j, "tier"); !t.empty()) r.tier = t;
    read_usage(j, r);
    auto ch = j.find("choices");
    if (ch == j.end() || !ch->is_array() || ch->empty() || !(*ch)[0].is_object()) return;
    const json& c = (*ch)[0];
    std::string delta;
    if (opt_.chat) {
      if (auto d = c.find("delta"); d != c.end() && d->is_object())
        delta = string_at(*d, "content");
    } else {
      delta = string_at(c, "text");
    }
    if (!delta.empty()) {
      const double t = since_start() - r.t_sched;
      if (r.ttft_s < 0) r.ttft_s = t;
      r.token_times.push_back(t);
      ++r.chunks;
      r.text += delta;
    }
    if (auto f = string_at(c, "finish_reason"); !f.empty()) r.finish_reason = f;
  };

  hr.response_handler = [&](const httplib::Response& res) {
    st.status = res.status;
    st.sse =
        res.status == 200 && res.get_header_value("Content-Type").starts_with("text/event-stream");
    if (res.has_header("Retry-After")) {
      const std::string v = res.get_header_value("Retry-After");
      double s = -1;
      auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), s);
      if (ec == std::errc() && ptr == v.data() + v.size() && std::isfinite(s)) r.retry_after_s = s;
    }
    return true;
  };
  hr.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    if (Clock::now() - t_sent_tp > timeout) {
      st.timed_out = true;
      return false;
    }
    if (!st.sse) {
      if (st.buf.size() + n > kMaxBody) {
        st.too_big = true;
        return false;
      }
      st.buf.append(data, n);
      return true;
    }
    for (size_t i = 0; i < n; ++i)
      if (data[i] != '\r') st.buf.push_back(data[i]);
    size_t pos;
    while ((pos = st.buf.find("\n\n")) != std::string::npos) {
      std::string_view ev(st.buf.data(), pos);
      std::string payload;
      bool has_data = false;
      while (!ev.empty()) {
        const size_t nl = ev.find('\n');
        std::string_view line = ev.substr(0, nl);
        ev = nl == std::string_view::npos ? std::string_view() : ev.substr(nl + 1);
        if (!line.starts_with("data:")) continue;  // comments, event:, id:, retry:
        line.remove_prefix(5);
        if (line.starts_with(' ')) line.remove_prefix(1);
        if (has_data) payload += '\n';
        payload.append(line);
        has_data = true;
      }
      if (has_data) on_event(payload);
      st.buf.erase(0, pos + 2);
      if (st.bad) return false;
    }
    if (st.buf.size() > kMaxBody) {
      st.too_big = true;
      return false;
    }
    return true;
  };

  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  cli.send(hr, res, err);
  r.t_end = since_start();
  r.http_status = st.status;
  const double elapsed = seconds(Clock::now() - t_sent_tp);

  auto finish = [&](Outcome o) {
    r.outcome = o;
    return std::move(r);
  };
  if (err != httplib::Error::Success && !st.done) {
    if (cancelled_.load()) return finish(Outcome::kCancelled);
    if (st.timed_out) {
      r.error_code = "timeout";
      return finish(Outcome::kTimeout);
    }
    if (st.bad || st.too_big) {
      if (st.too_big) r.error_message = "response too large";
      return finish(Outcome::kBadResponse);
    }
    if (st.stream_error) {
      // The server sent an error event and closed without [DONE]: still its verdict.
    } else {
      r.error_code = httplib::to_string(err);
      if (err == httplib::Error::ConnectionTimeout || elapsed >= 0.95 * opt_.timeout_s) {
        r.error_code = "timeout";
        return finish(Outcome::kTimeout);
      }
      return finish(st.status > 0 ? Outcome::kDisconnected : Outcome::kConnection);
    }
  }

  if (st.status == 200 && st.sse) {
    if (st.stream_error)
      return finish(r.error_code == "deadline_exceeded" ? Outcome::kDeadlineStream
                                                        : Outcome::kStreamError);
    if (st.bad) return finish(Outcome::kBadResponse);
    if (!st.done) {
      r.error_message = "event stream ended without data: [DONE]";
      return finish(Outcome::kBadResponse);
    }
    return finish(Outcome::kOk);
  }

  const json body = json::parse(st.buf, nullptr, false);
  if (st.status == 200) {
    if (body.is_discarded() || !body.is_object()) {
      r.error_message = fmt::format("unparseable body: {:.80}", st.buf);
      return finish(Outcome::kBadResponse);
    }
    if (auto e = body.find("error"); e != body.end()) {
      read_error_object(*e, r);
      return finish(Outcome::kBadResponse);
    }
    auto ch = body.find("choices");
    if (ch == body.end() || !ch->is_array() || ch->empty() || !(*ch)[0].is_object()) {
      r.error_message = "response has no choices";
      return finish(Outcome::kBadResponse);
    }
    const json& c = (*ch)[0];
    if (auto m = c.find("message"); m != c.end() && m->is_object())
      r.text = string_at(*m, "content");
    else
      r.text = string_at(c, "text");
    r.finish_reason = string_at(c, "finish_reason");
    r.tier = string_at(body, "tier");
    read_usage(body, r);
    return finish(Outcome::kOk);
  }

  if (body.is_object())
    if (auto e = body.find("error"); e != body.end()) read_error_object(*e, r);
  if (r.error_message.empty() && !st.buf.empty()) r.error_message = st.buf.substr(0, 200);
  if (st.status == 429 || r.error_code == "queue_full") return finish(Outcome::kQueueFull);
  if (st.status == 408 || r.error_code == "deadline_exceeded") return finish(Outcome::kDeadline);
  if (st.status == 503) return finish(Outcome::kUnavailable);
  if (st.status >= 400 && st.status < 500) return finish(Outcome::kClient4xx);
  if (st.status >= 500 && st.status < 600) return finish(Outcome::kServer5xx);
  r.error_message = fmt::format("unexpected HTTP status {}", st.status);
  return finish(Outcome::kBadResponse);
}

}  // namespace tandem::loadgen
