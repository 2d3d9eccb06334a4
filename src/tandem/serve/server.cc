#include "tandem/serve/server.h"

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>

#include "tandem/base/error.h"
#include "tandem/base/random.h"
#include "tandem/serve/dashboard_assets.h"

namespace tandem::serve {

using nlohmann::json;

void declare_serving_metrics(Metrics& m) {
  using K = Metrics::Kind;
  const std::vector<double> latency = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                       2.5,   5,    10,    20,   40,  80,   160};
  const std::vector<double> per_token = {0.001, 0.0025, 0.005, 0.01, 0.02, 0.04,
                                         0.08,  0.16,   0.32,  0.64, 1.28, 2.56};
  m.declare("tandem:requests_total", K::kCounter, "Requests answered, by tier and HTTP status",
            {"tier", "status"});
  m.declare("tandem:queue_depth", K::kGauge, "Requests waiting in the queue");
  m.declare("tandem:queue_tokens", K::kGauge, "Prompt plus max tokens of the waiting requests");
  m.declare("tandem:running_requests", K::kGauge, "Sequences in the engine");
  m.declare("tandem:tier_queued", K::kGauge, "Waiting requests by tier", {"tier"});
  m.declare("tandem:tier_running", K::kGauge, "Running sequences by tier", {"tier"});
  m.declare("tandem:prompt_tokens_total", K::kCounter, "Prompt tokens of finished requests",
            {"tier"});
  m.declare("tandem:generation_tokens_total", K::kCounter, "Tokens generated", {"tier"});
  m.declare("tandem:forward_tokens_total", K::kCounter, "Tokens run through each model", {"model"});
  m.declare("tandem:forward_seconds_total", K::kCounter, "Seconds spent in each model's forward",
            {"model"});
  m.declare("tandem:policy_decisions_total", K::kCounter,
            "Tiers the routing policy picked for requests that named none ('rejected': refused)",
            {"tier"});
  m.declare("tandem:policy_info", K::kGauge, "The routing policy (1)", {"policy"});
  m.declare("tandem:forward_calls_total", K::kCounter, "Forward calls of each model", {"model"});
  m.declare("tandem:prefill_seconds_per_token", K::kGauge,
            "Each model's running estimate of forward seconds per token in calls that read "
            "prompts (the queue's deadline check)",
            {"model"});
  m.declare("tandem:engine_iterations_total", K::kCounter, "Engine loop iterations with work");
  m.declare("tandem:batch_size", K::kHistogram, "Sequences per model forward", {},
            {1, 2, 4, 8, 16, 32, 64});
  m.declare("tandem:queue_time_seconds", K::kHistogram, "Time from arrival to admission", {},
            latency);
  m.declare("tandem:time_to_first_token_seconds", K::kHistogram,
            "Time from arrival to the first generated token", {"tier"}, latency);
  m.declare("tandem:time_per_output_token_seconds", K::kHistogram,
            "Time between generated tokens after the first", {"tier"}, per_token);
  m.declare("tandem:request_latency_seconds", K::kHistogram,
            "Time from arrival to the last token of successful requests", {"tier"}, latency);
  m.declare("tandem:spec_drafted_tokens_total", K::kCounter,
            "Little-model draft tokens sent to verification", {"tier"});
  m.declare("tandem:spec_accepted_tokens_total", K::kCounter, "Draft tokens accepted", {"tier"});
  m.declare("tandem:spec_fallbacks_total", K::kCounter, "BiLD fallbacks to the big model",
            {"tier"});
  m.declare("tandem:spec_rollbacks_total", K::kCounter,
            "Verifications that rejected or rolled back a draft", {"tier"});
  m.declare("tandem:deadline_misses_total", K::kCounter,
            "Requests ended because they could not meet their deadline", {"tier", "stage"});
  m.declare("tandem:cancelled_total", K::kCounter, "Sequences freed because the client left",
            {"tier"});
  m.declare("tandem:policy_rejections_total", K::kCounter, "Requests the policy refused");
  m.declare("tandem:kv_cache_usage_ratio", K::kGauge, "Share of KV-cache token slots in use");
  m.declare("tandem:ready", K::kGauge, "1 when the models are loaded and requests are accepted");
  // The model-server protocol gauges scraped by cluster routers (one unlabelled series each).
  m.declare("vllm:num_requests_waiting", K::kGauge, "Requests waiting to be scheduled");
  m.declare("vllm:num_requests_running", K::kGauge, "Requests being decoded");
  m.declare("vllm:kv_cache_usage_perc", K::kGauge, "KV-cache usage, 0 to 1");
  m.declare("vllm:gpu_cache_usage_perc", K::kGauge,
            "KV-cache usage, 0 to 1 (older name of vllm:kv_cache_usage_perc)");
  m.declare("vllm:cache_config_info", K::kGauge,
            "KV-cache configuration (block_size tokens per accounting block)",
            {"block_size", "num_gpu_blocks"});
  for (const char* g :
       {"vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:kv_cache_usage_perc",
        "vllm:gpu_cache_usage_perc", "tandem:ready", "tandem:queue_depth",
        "tandem:running_requests", "tandem:kv_cache_usage_ratio"})
    m.set(g, 0);
}

namespace {

std::string new_request_id() {
  static std::atomic<uint64_t> counter{
      static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count())};
  uint64_t s = counter.fetch_add(1, std::memory_order_relaxed);
  return fmt::format("req-{:016x}", splitmix64(s));
}

// cpp-httplib listens with a backlog of 5: a burst of simultaneous connections
// (64 clients, a router reconnecting) overflows it and clients see resets. Linux
// lets listen() be called again on a listening socket to raise the backlog, so
// find ours (the listening TCP socket bound to `port`) and do that.
void raise_listen_backlog(int port) {
  for (int fd = 3; fd < 4096; ++fd) {
    int listening = 0;
    socklen_t len = sizeof(listening);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) continue;
    sockaddr_storage addr{};
    socklen_t alen = sizeof(addr);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &alen) != 0) continue;
    int p = -1;
    if (addr.ss_family == AF_INET) p = ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    if (addr.ss_family == AF_INET6) p = ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
    if (p == port && ::listen(fd, 1024) == 0) return;
  }
  spdlog::warn(
      "could not raise the listen backlog of port {}; bursts of connections may be refused", port);
}

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  if (e.retry_after_s > 0) res.set_header("Retry-After", std::to_string(e.retry_after_s));
  res.set_content(error_json(e).dump(), "application/json");
}

std::string sse(const json& j) {
  return "data: " + j.dump() + "\n\n";
}

}  // namespace

Server::Server(ServerOptions options, Metrics& metrics)
    : options_(std::move(options)), metrics_(metrics), http_(std::make_unique<httplib::Server>()) {
  created_ = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  const int threads = options_.http_threads > 0 ? options_.http_threads : 256;
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http_->set_keep_alive_timeout(5);
  http_->set_read_timeout(30);
  http_->set_write_timeout(10);
  http_->set_payload_max_length(8 << 20);
  routes();
}

Server::~Server() = default;

int Server::bind() {
  int port = options_.port;
  if (port == 0) {
    port = http_->bind_to_any_port(options_.host);
    if (port < 0) fail("cannot bind to {} on any port", options_.host);
  } else if (!http_->bind_to_port(options_.host, port)) {
    fail("cannot bind to {}:{} (in use, or not an address of this machine); choose --port",
         options_.host, port);
  }
  raise_listen_backlog(port);
  return port;
}

void Server::listen() {
  http_->listen_after_bind();
}

void Server::set_engine(Engine* engine) {
  if (engine && options_.chat_template.empty()) {
    const std::string& src = engine->tokenizer().chat_template();
    if (src.empty()) {
      spdlog::warn(
          "the model has no chat template; /v1/chat/completions uses chatml "
          "(choose another with --chat-template)");
      chat_template_ = std::make_unique<ChatTemplate>(ChatTemplate::named("chatml"));
    } else {
      chat_template_ = std::make_unique<ChatTemplate>(ChatTemplate::detect(src));
    }
  } else if (engine) {
    chat_template_ = std::make_unique<ChatTemplate>(ChatTemplate::named(options_.chat_template));
  }
  if (engine) {
    const int64_t block = 16;
    metrics_.set("vllm:cache_config_info", 1,
                 {std::to_string(block),
                  std::to_string(engine->slots() * ((engine->n_ctx() + block - 1) / block))});
  }
  engine_.store(engine);
  metrics_.set("tandem:ready", engine ? 1 : 0);
}

void Server::begin_shutdown() {
  shutting_down_.store(true);
  metrics_.set("tandem:ready", 0);
  if (Engine* e = engine_.load()) e->drain();
}

void Server::stop() {
  http_->stop();
}

bool Server::authorized(const std::string& header) const {
  if (options_.api_key.empty()) return true;
  const std::string want = "Bearer " + options_.api_key;
  // Constant-time comparison: the key must not leak through timing.
  if (header.size() != want.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < want.size(); ++i) diff |= static_cast<unsigned char>(header[i] ^ want[i]);
  return diff == 0;
}

void Server::routes() {
  // Every response carries the request id.
  http_->set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    const std::string id =
        req.has_header("x-request-id") ? req.get_header_value("x-request-id") : new_request_id();
    res.set_header("x-request-id", id);
    return httplib::Server::HandlerResponse::Unhandled;
  });
  auto request_id = [](const httplib::Response& res) {
    return res.get_header_value("x-request-id");
  };

  http_->Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    const char* status = shutting_down_ ? "draining" : engine_.load() ? "ok" : "loading";
    res.status = std::string_view(status) == "ok" ? 200 : 503;
    res.set_content(json{{"status", status}}.dump(), "application/json");
  });

  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.render(), "text/plain; version=0.0.4; charset=utf-8");
  });

  http_->Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
    if (!authorized(req.get_header_value("Authorization")))
      return send_error(res,
                        ApiError{401, "authentication_error", "invalid_api_key",
                                 "missing or wrong API key (Authorization: Bearer KEY)", "", 0});
    json data = json::array();
    data.push_back({{"id", options_.served_name},
                    {"object", "model"},
                    {"created", created_},
                    {"owned_by", "tandem"},
                    {"description", "any tier, chosen by the routing policy"}});
    if (Engine* e = engine_.load())
      for (const TierSpec& t : e->config().tiers)
        data.push_back({{"id", t.name},
                        {"object", "model"},
                        {"created", created_},
                        {"owned_by", "tandem"},
                        {"description", t.describe()}});
    res.set_content(json{{"object", "list"}, {"data", data}}.dump(), "application/json");
  });

  auto generate = [this, request_id](Endpoint endpoint) {
    return [this, endpoint, request_id](const httplib::Request& req, httplib::Response& res) {
      const std::string id = request_id(res);
      if (!authorized(req.get_header_value("Authorization")))
        return send_error(res,
                          ApiError{401, "authentication_error", "invalid_api_key",
                                   "missing or wrong API key (Authorization: Bearer KEY)", "", 0});
      Engine* engine = engine_.load();
      if (!engine || shutting_down_) {
        return send_error(res, ApiError{503, "unavailable", "unavailable",
                                        engine ? "the server is shutting down; retry elsewhere"
                                               : "the models are still loading; retry shortly",
                                        "", 1});
      }
      ApiContext ctx{&engine->tokenizer(),        chat_template_.get(),
                     &engine->config(),           options_.served_name,
                     options_.default_deadline_s, options_.default_max_tokens};
      auto parsed = parse_request(req.body, endpoint, ctx, id);
      if (auto* e = std::get_if<ApiError>(&parsed)) {
        spdlog::info("{} 400 {}", id, e->message);
        return send_error(res, *e);
      }
      ParsedRequest r = std::move(std::get<ParsedRequest>(parsed));
      Admission a = engine->submit(std::move(r.params));
      if (!a.stream) {
        spdlog::info("{} {} {}", id, a.error.status, a.error.message);
        return send_error(res, a.error);
      }
      const std::string oid = (endpoint == Endpoint::kChat ? "chatcmpl-" : "cmpl-") + id;
      std::shared_ptr<RequestStream> stream = a.stream;
      const auto t0 = std::chrono::steady_clock::now();

      if (!r.stream) {
        std::string text;
        for (;;) {
          std::optional<Event> e = stream->next(std::chrono::milliseconds(500));
          if (!e) continue;
          if (e->kind == Event::Kind::kText) {
            text += e->text;
          } else if (e->kind == Event::Kind::kError) {
            spdlog::info("{} {} tier={} {}", id, e->error.status, stream->tier(), e->error.message);
            return send_error(res, e->error);
          } else {
            spdlog::info(
                "{} 200 tier={} tokens={}+{} {:.3f}s", id, stream->tier(), e->prompt_tokens,
                e->completion_tokens,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            res.set_content(completion_json(endpoint, oid, r.model, stream->tier(), text, e->finish,
                                            e->prompt_tokens, e->completion_tokens, created_)
                                .dump(),
                            "application/json");
            return;
          }
        }
      }

      // Streaming: the first event decides the status; errors before any text are plain
      // HTTP errors, later ones an SSE error event.
      std::optional<Event> first;
      while (!first) first = stream->next(std::chrono::milliseconds(500));
      if (first->kind == Event::Kind::kError) {
        spdlog::info("{} {} tier={} {}", id, first->error.status, stream->tier(),
                     first->error.message);
        return send_error(res, first->error);
      }
      res.set_header("Cache-Control", "no-cache");
      res.set_header("X-Accel-Buffering", "no");
      struct State {
        std::optional<Event> first;
        bool sent_first = false;
        bool finished = false;
      };
      auto st = std::make_shared<State>();
      st->first = std::move(first);
      const std::string model = r.model;
      const bool include_usage = r.include_usage;
      res.set_chunked_content_provider(
          "text/event-stream",
          [this, st, stream, endpoint, oid, model, include_usage, id, t0](size_t,
                                                                          httplib::DataSink& sink) {
            std::optional<Event> e;
            if (st->first) {
              e = std::move(st->first);
              st->first.reset();
            } else {
              e = stream->next(std::chrono::milliseconds(250));
            }
            if (!e) {  // nothing new: probe the connection so a vanished client is noticed
              if (!sink.write(": keep-alive\n\n", 14)) {
                stream->cancel();
                return false;
              }
              return true;
            }
            std::string out;
            if (e->kind == Event::Kind::kText) {
              out = sse(chunk_json(endpoint, oid, model, stream->tier(), e->text, std::nullopt,
                                   created_, !st->sent_first));
              st->sent_first = true;
            } else if (e->kind == Event::Kind::kError) {
              spdlog::info("{} {} tier={} mid-stream: {}", id, e->error.status, stream->tier(),
                           e->error.message);
              out = sse(error_json(e->error)) + "data: [DONE]\n\n";
              st->finished = true;
            } else {
              out = sse(chunk_json(endpoint, oid, model, stream->tier(), "", e->finish, created_,
                                   !st->sent_first));
              if (include_usage) {
                json u = chunk_json(endpoint, oid, model, stream->tier(), "", std::nullopt,
                                    created_, false);
                u["choices"] = json::array();
                u["usage"] = usage_json(e->prompt_tokens, e->completion_tokens);
                out += sse(u);
              }
              out += "data: [DONE]\n\n";
              st->finished = true;
              spdlog::info(
                  "{} 200 tier={} stream tokens={}+{} {:.3f}s", id, stream->tier(),
                  e->prompt_tokens, e->completion_tokens,
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            }
            if (!sink.write(out.data(), out.size())) {
              stream->cancel();
              return false;
            }
            if (st->finished) sink.done();
            return true;
          },
          [stream, st](bool success) {
            if (!success || !st->finished) stream->cancel();
          });
    };
  };
  http_->Post("/v1/completions", generate(Endpoint::kCompletions));
  http_->Post("/v1/chat/completions", generate(Endpoint::kChat));

  for (const DashboardAsset& a : dashboard_assets()) {
    const std::string path = a.path;
    http_->Get(path, [a](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(a.content), a.content_type);
    });
  }

  http_->set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    ApiError e{res.status,
               "invalid_request_error",
               res.status == 404 ? "not_found" : "http_error",
               fmt::format("{} {}: {}", req.method, req.path,
                           res.status == 404 ? "no such route" : "request failed"),
               "",
               0};
    res.set_content(error_json(e).dump(), "application/json");
  });
  http_->set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        spdlog::error("handler failed: {}", what);
        send_error(res, ApiError{500, "server_error", "internal_error", what, "", 0});
      });
}

}  // namespace tandem::serve
