// The server under overload: 64 concurrent clients against a small queue, a
// long prompt prefilled in chunks while others stream, and SIGTERM draining of
// the real `tandem serve` process.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <atomic>

#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "sanitizer.h"
#include "serve/serve_test_util.h"

namespace tandem::testing {
namespace {

using nlohmann::json;

int64_t rss_kib() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  return 0;
}

TEST(ServeLoad, SixtyFourClientsEachGetAnAnswerAndMemoryStaysBounded) {
  TestServerOptions o;
  o.engine.slots = 8;
  o.engine.max_queued_requests = 16;
  o.with_little = true;
  o.policy = "queue:4,8,12";
  TestServer s(o);
  const int64_t rss_before = rss_kib();
  std::mutex mu;
  std::map<std::string, int> outcomes;  // "200", "429", "408", or anything else that went wrong
  std::vector<std::thread> clients;
  for (int i = 0; i < 64; ++i)
    clients.emplace_back([&, i] {
      auto c = s.client();
      for (int k = 0; k < 2; ++k) {
        json body = {{"prompt", "And God said, Let there be light"},
                     {"max_tokens", 8 + (i * 7 + k) % 24},
                     {"temperature", (i % 3) * 0.5},
                     {"seed", i}};
        if (i % 4 == 0) body["deadline_ms"] = 1500;
        std::string outcome;
        if (i % 2) {
          body["stream"] = true;
          SseResult r = post_sse(c, "/v1/completions", body);
          if (r.status != 200) {
            outcome = r.status ? std::to_string(r.status) : "no response: " + r.error;
          } else if (r.data.empty() || r.data.back() != "[DONE]") {
            outcome = "unterminated stream";
          } else if (r.data.size() >= 2 &&
                     r.data[r.data.size() - 2].find("\"error\"") != std::string::npos) {
            outcome = json::parse(r.data[r.data.size() - 2])["error"]["code"] == "deadline_exceeded"
                          ? "408"
                          : "stream error";
          } else {
            outcome = "200";
          }
        } else {
          auto res = c.Post("/v1/completions", body.dump(), "application/json");
          outcome =
              res ? std::to_string(res->status) : "no response: " + httplib::to_string(res.error());
        }
        std::lock_guard<std::mutex> lock(mu);
        ++outcomes[outcome];
      }
    });
  for (auto& t : clients) t.join();
  int total = 0;
  for (const auto& [k, v] : outcomes) {
    total += v;
    EXPECT_TRUE(k == "200" || k == "429" || k == "408") << v << " requests ended with " << k;
  }
  EXPECT_EQ(total, 128);
  EXPECT_GE(outcomes["200"], 16);
  EXPECT_GE(outcomes["429"], 1) << "a 16-deep queue must overflow under 64 clients";
  // Nothing left behind: no running sequence, no queued request.
  EXPECT_TRUE(eventually([&] { return s.engine().idle(); }));
  // KV caches are bounded by the slots; the load must not grow memory beyond them (plus slack).
  // AddressSanitizer keeps freed memory in a quarantine of up to 256 MiB and shadows every
  // allocation, so its bound is wider.
  const int64_t bound_mib = kSanitized ? 1024 : 256;
  EXPECT_LT(rss_kib() - rss_before, bound_mib * 1024)
      << "RSS grew by more than " << bound_mib << " MiB";
}

TEST(ServeLoad, LongPromptIsPrefilledInChunksWhileOthersStream) {
  TestServerOptions o;
  o.engine.slots = 2;
  o.engine.prefill_chunk = 16;
  o.engine.batch_tokens = 20;
  o.with_little = false;
  TestServer s(o);
  // A stream that runs long, and a request whose 300-token prompt arrives meanwhile.
  std::atomic<int> streamed{0}, streamed_at_long_first_token{-1};
  std::thread streamer([&] {
    auto c = s.client();
    httplib::Request req;
    json body = {{"prompt", "Thou shalt"}, {"max_tokens", 200}, {"stream", true}};
    req.method = "POST";
    req.path = "/v1/completions";
    req.body = body.dump();
    req.headers.emplace("Content-Type", "application/json");
    req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
      for (size_t i = 0; i + 5 < n; ++i)
        if (std::string_view(d + i, 6) == "data: ") ++streamed;
      return true;
    };
    c.send(req);
  });
  ASSERT_TRUE(eventually([&] { return streamed.load() >= 3; }));
  std::string long_prompt;
  for (int i = 0; i < 40; ++i) long_prompt += "and the evening and the morning ";
  const int before = streamed.load();
  std::thread long_req([&] {
    auto c = s.client();
    json body = {{"prompt", long_prompt}, {"max_tokens", 1}, {"stream", true}};
    SseResult r = post_sse(c, "/v1/completions", body, /*stop_after=*/1);
    streamed_at_long_first_token = streamed.load();
    EXPECT_EQ(r.status, 200);
  });
  long_req.join();
  streamer.join();
  // ~300 prompt tokens at 16 per step is ~19 steps, in each of which the streaming sequence
  // also decodes a token: it must have kept streaming while the long prompt was read.
  EXPECT_GE(streamed_at_long_first_token.load() - before, 8);
}

// The real binary: SIGTERM drains — health 503, new requests 503, the in-flight stream
// finishes — then the process exits 0.
TEST(ServeProcess, SigtermDrainsAndExits) {
  const std::string port_file = ::testing::TempDir() + "tandem_serve_port";
  std::remove(port_file.c_str());
  const std::string big = source_path("models/big-q8_0.gguf");
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    dup2(null, 2);
    execl(TANDEM_BINARY, TANDEM_BINARY, "serve", "-m", big.c_str(), "--port", "0", "--port-file",
          port_file.c_str(), "-t", "2", "--grace-seconds", "30", static_cast<char*>(nullptr));
    _exit(127);
  }
  int port = 0;
  ASSERT_TRUE(eventually(
      [&] {
        std::ifstream in(port_file);
        return static_cast<bool>(in >> port);
      },
      30));
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60);
  ASSERT_TRUE(eventually(
      [&] {
        auto h = c.Get("/health");
        return h && h->status == 200;
      },
      60));
  std::atomic<int> chunks{0};
  SseResult inflight;
  std::thread stream([&] {
    httplib::Client c2("127.0.0.1", port);
    c2.set_read_timeout(60);
    json body = {{"prompt", "In the beginning"}, {"max_tokens", 120}, {"stream", true}};
    inflight = post_sse(c2, "/v1/completions", body);
  });
  ASSERT_TRUE(eventually([&] {
    auto m = c.Get("/metrics");
    return m && m->body.find("vllm:num_requests_running 1\n") != std::string::npos;
  }));
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  ASSERT_TRUE(eventually([&] {
    auto h = c.Get("/health");
    return h && h->status == 503;
  }));
  auto refused =
      c.Post("/v1/completions", R"({"prompt": "hi", "max_tokens": 2})", "application/json");
  if (refused) {  // the listener may already be closed, which a router also treats as "elsewhere"
    EXPECT_EQ(refused->status, 503);
    EXPECT_EQ(json::parse(refused->body)["error"]["code"], "unavailable");
  }
  stream.join();
  EXPECT_EQ(inflight.status, 200);
  ASSERT_FALSE(inflight.data.empty());
  EXPECT_EQ(inflight.data.back(), "[DONE]") << "the in-flight stream must finish";
  int status = 0;
  ASSERT_TRUE(eventually([&] { return waitpid(pid, &status, WNOHANG) == pid; }, 30));
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace tandem::testing
