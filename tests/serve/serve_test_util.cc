#include "serve/serve_test_util.h"

#include <chrono>
#include <cstdlib>

namespace tandem::testing {

std::string source_path(const std::string& rel) {
  const char* dir = std::getenv("TANDEM_SOURCE_DIR");
  return std::string(dir ? dir : TANDEM_SOURCE_DIR) + "/" + rel;
}

TestServer::TestServer(TestServerOptions o) {
  serve::declare_serving_metrics(metrics_);
  serve::ServeConfig config = serve::default_serve_config(
      source_path("models/big-q8_0.gguf"),
      o.with_little ? source_path("models/little-aligned-q8_0.gguf") : "");
  if (o.engine.threads == 0) o.engine.threads = 2;
  o.server.port = 0;
  const std::string policy = o.policy.empty() ? "fixed:" + config.tiers[0].name : o.policy;
  auto p = serve::make_policy(policy, config.tiers);
  engine_ = std::make_unique<serve::Engine>(config, o.engine, std::move(p), metrics_);
  engine_->start();
  server_ = std::make_unique<serve::Server>(o.server, metrics_);
  port_ = server_->bind();
  server_->set_engine(engine_.get());
  listener_ = std::thread([this] { server_->listen(); });
}

TestServer::~TestServer() {
  server_->stop();
  listener_.join();
  engine_->stop();
}

httplib::Client TestServer::client() const {
  httplib::Client c("127.0.0.1", port_);
  c.set_read_timeout(60);
  return c;
}

SseResult post_sse(httplib::Client& c, const std::string& path, const nlohmann::json& body,
                   size_t stop_after, const httplib::Headers& headers) {
  SseResult r;
  std::string buffer;
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.headers = headers;
  req.headers.emplace("Content-Type", "application/json");
  req.body = body.dump();
  req.response_handler = [&](const httplib::Response& res) {
    r.status = res.status;
    r.retry_after = res.get_header_value("Retry-After");
    return true;
  };
  req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
    if (r.status != 200) {
      r.raw.append(data, len);
      return true;
    }
    buffer.append(data, len);
    size_t end;
    while ((end = buffer.find("\n\n")) != std::string::npos) {
      const std::string event = buffer.substr(0, end);
      buffer.erase(0, end + 2);
      if (event.rfind("data: ", 0) == 0) r.data.push_back(event.substr(6));
      if (stop_after > 0 && r.data.size() >= stop_after) return false;  // hang up
    }
    return true;
  };
  auto res = c.send(req);
  if (res && r.status == 0) r.status = res->status;
  if (!res && r.status == 0) r.error = httplib::to_string(res.error());
  return r;
}

std::optional<serve::Event> final_event(serve::RequestStream& stream,
                                        std::chrono::seconds timeout) {
  for (;;) {
    std::optional<serve::Event> ev = stream.next(timeout);
    if (!ev || ev->kind != serve::Event::Kind::kText) return ev;
  }
}

bool eventually(const std::function<bool()>& pred, double seconds) {
  const auto until = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

}  // namespace tandem::testing
