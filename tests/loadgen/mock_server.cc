#include "mock_server.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <stdexcept>

namespace tandem::loadgen::testing {

namespace {

using json = nlohmann::json;

json error_object(const std::string& type, const std::string& code, const std::string& msg) {
  return {{"error", {{"message", msg}, {"type", type}, {"param", nullptr}, {"code", code}}}};
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i)
    if (i == s.size() || s[i] == sep) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  return out;
}

}  // namespace

MockServer::MockServer() {
  server_.set_tcp_nodelay(true);
  auto h = [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); };
  server_.Post("/v1/completions", h);
  server_.Post("/v1/chat/completions", h);
  server_.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok", "text/plain");
  });
  port_ = server_.bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("mock server: cannot bind 127.0.0.1");
  thread_ = std::thread([this] { server_.listen_after_bind(); });
  while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

MockServer::~MockServer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  server_.stop();
  thread_.join();
}

std::vector<SeenRequest> MockServer::requests() {
  std::lock_guard lock(mu_);
  return seen_;
}

bool MockServer::sleep_ms(double ms) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, std::chrono::duration<double, std::milli>(ms),
                       [this] { return stopping_; });
}

void MockServer::handle(const httplib::Request& req, httplib::Response& res) {
  json body = json::parse(req.body, nullptr, false);
  {
    std::lock_guard lock(mu_);
    seen_.push_back({req.path, body, req.get_header_value("Authorization"),
                     req.get_header_value("x-request-id")});
  }
  res.set_header("x-request-id", req.get_header_value("x-request-id"));
  if (body.is_discarded() || !body.is_object()) {
    res.status = 400;
    res.set_content(error_object("invalid_request_error", "invalid_json", "bad json").dump(),
                    "application/json");
    return;
  }
  const bool chat = req.path == "/v1/chat/completions";
  const std::string prompt = chat ? body["messages"][0].value("content", std::string())
                                  : body.value("prompt", std::string());
  const bool stream = body.value("stream", false);
  const bool usage =
      body.contains("stream_options") && body["stream_options"].value("include_usage", false);
  const std::string tier = body.value("tier", std::string("mock"));
  const std::string object = chat ? "chat.completion" : "text_completion";

  auto fail_with = [&](int status, const std::string& type, const std::string& code) {
    res.status = status;
    res.set_content(error_object(type, code, "mock " + code).dump(), "application/json");
  };
  auto chunk = [&](const std::string& text, const char* finish) {
    json c = {{"index", 0}, {"finish_reason", finish ? json(finish) : json(nullptr)}};
    if (chat)
      c["delta"] = {{"content", text}};
    else
      c["text"] = text;
    json j = {{"id", "cmpl-mock"},
              {"object", chat ? "chat.completion.chunk" : "text_completion"},
              {"choices", json::array({c})},
              {"tier", tier}};
    return "data: " + j.dump() + "\n\n";
  };

  // Streams `events`, one per provider call after delays_ms[i]; then, per
  // `end`: "done" sends [DONE], "close" drops the connection, "hang" waits,
  // "eof" ends the stream cleanly without [DONE].
  auto stream_events = [&](std::vector<std::string> events, std::vector<double> delays_ms,
                           std::string end) {
    struct State {
      std::vector<std::string> events;
      std::vector<double> delays;
      std::string end;
      size_t next = 0;
    };
    auto st = std::make_shared<State>(State{std::move(events), std::move(delays_ms), end});
    res.set_chunked_content_provider(
        "text/event-stream", [this, st](size_t, httplib::DataSink& sink) {
          if (st->next < st->events.size()) {
            if (!sleep_ms(st->delays[st->next])) return false;
            const std::string& e = st->events[st->next++];
            return sink.write(e.data(), e.size());
          }
          if (st->end == "done") {
            static const std::string done = "data: [DONE]\n\n";
            sink.write(done.data(), done.size());
            sink.done();
            return true;
          }
          if (st->end == "eof") {
            sink.done();
            return true;
          }
          if (st->end == "hang") sleep_ms(60000);
          return false;  // "close", or released from a hang: drop the connection
        });
  };

  auto parts = split(prompt, ':');
  static const char* kKinds[] = {"ok",      "429",          "408",   "503",   "400",
                                 "500",     "deadline-mid", "close", "stall", "no-done",
                                 "garbage", "garbage-json", "hang"};
  if (std::find(std::begin(kKinds), std::end(kKinds), parts[0]) == std::end(kKinds))
    parts = {"ok", std::to_string(body.value("max_tokens", 3)), "5"};  // any other prompt
  const std::string& kind = parts[0];
  if (kind == "ok") {
    const int n = parts.size() > 1 ? std::stoi(parts[1]) : 3;
    const double d = parts.size() > 2 ? std::stod(parts[2]) : 10;
    const double first = parts.size() > 3 ? std::stod(parts[3]) : d;
    if (!stream) {
      if (!sleep_ms(first + (n - 1) * d)) return;
      std::string text;
      for (int i = 0; i < n; ++i) text += fmt::format("t{} ", i);
      json c = {{"index", 0}, {"finish_reason", "length"}};
      if (chat)
        c["message"] = {{"role", "assistant"}, {"content", text}};
      else
        c["text"] = text;
      json j = {
          {"id", "cmpl-mock"},
          {"object", object},
          {"created", 0},
          {"model", body.value("model", std::string())},
          {"choices", json::array({c})},
          {"usage", {{"prompt_tokens", 4}, {"completion_tokens", n}, {"total_tokens", n + 4}}},
          {"tier", tier}};
      res.set_content(j.dump(), "application/json");
      return;
    }
    std::vector<std::string> ev;
    std::vector<double> delays;
    for (int i = 0; i < n; ++i) {
      ev.push_back(chunk(fmt::format("t{} ", i), i + 1 == n ? "length" : nullptr));
      delays.push_back(i == 0 ? first : d);
    }
    if (usage) {
      json u = {
          {"id", "cmpl-mock"},
          {"object", chat ? "chat.completion.chunk" : "text_completion"},
          {"choices", json::array()},
          {"usage", {{"prompt_tokens", 4}, {"completion_tokens", n}, {"total_tokens", n + 4}}},
          {"tier", tier}};
      ev.push_back("data: " + u.dump() + "\n\n");
      delays.push_back(0);
    }
    stream_events(ev, delays, "done");
  } else if (kind == "429") {
    fail_with(429, "rate_limit_error", "queue_full");
    res.set_header("Retry-After", "3");
  } else if (kind == "408") {
    fail_with(408, "timeout_error", "deadline_exceeded");
  } else if (kind == "503") {
    fail_with(503, "server_error", "unavailable");
  } else if (kind == "400") {
    fail_with(400, "invalid_request_error", "bad_request");
  } else if (kind == "500") {
    fail_with(500, "server_error", "internal");
  } else if (kind == "deadline-mid") {
    const std::string err =
        "data: " + error_object("timeout_error", "deadline_exceeded", "too late").dump() + "\n\n";
    stream_events({chunk("a ", nullptr), chunk("b ", nullptr), err}, {5, 5, 5}, "done");
  } else if (kind == "close") {
    stream_events({chunk("a ", nullptr), chunk("b ", nullptr)}, {5, 5}, "close");
  } else if (kind == "stall") {
    stream_events({chunk("a ", nullptr)}, {5}, "hang");
  } else if (kind == "no-done") {
    stream_events({chunk("a ", nullptr), chunk("b ", "stop")}, {5, 5}, "eof");
  } else if (kind == "garbage") {
    stream_events({"data: {this is not json\n\n"}, {1}, "done");
  } else if (kind == "garbage-json") {
    res.set_content("<html>oops</html>", "application/json");
  } else if (kind == "hang") {
    sleep_ms(60000);
    res.status = 500;
  }
}

int unused_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace tandem::loadgen::testing
