// The loadgen client against an in-process mock server: measurement of a
// streamed response (TTFT, TPOT, text, token counts) and the classification
// of every way a request can end.
#include <gtest/gtest.h>

#include <thread>

#include "mock_server.h"
#include "tandem/base/error.h"
#include "tandem/loadgen/client.h"

namespace tandem::loadgen {
namespace {

using testing::MockServer;

RequestSpec spec(const std::string& prompt, int64_t index = 0) {
  RequestSpec r;
  r.index = index;
  r.prompt = prompt;
  r.task = "pydoc";
  r.max_tokens = 16;
  r.deadline_ms = 5000;
  r.seed = 123;
  return r;
}

RequestResult send(MockServer& server, const std::string& prompt, bool stream = true,
                   bool chat = false, double timeout_s = 5) {
  ClientOptions o;
  o.url = server.url();
  o.stream = stream;
  o.chat = chat;
  o.timeout_s = timeout_s;
  o.api_key = "sekrit";
  Client c(o);
  return c.send(spec(prompt), Client::Clock::now());
}

TEST(Client, StreamedCompletionIsMeasured) {
  MockServer server;
  // 5 chunks: the first after 150 ms, then one every 60 ms.
  const RequestResult r = send(server, "ok:5:60:150");
  EXPECT_EQ(r.outcome, Outcome::kOk) << r.error_code << " " << r.error_message;
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(r.text, "t0 t1 t2 t3 t4 ");
  EXPECT_EQ(r.chunks, 5);
  EXPECT_EQ(r.usage_completion_tokens, 5);
  EXPECT_EQ(r.usage_prompt_tokens, 4);
  EXPECT_EQ(r.output_tokens(), 5);
  EXPECT_EQ(r.finish_reason, "length");
  EXPECT_EQ(r.tier, "mock");
  ASSERT_EQ(r.token_times.size(), 5u);
  // Generous upper bounds: the machine is shared.
  EXPECT_GE(r.ttft_s, 0.145);
  EXPECT_LT(r.ttft_s, 0.6);
  EXPECT_GE(r.tpot_s(), 0.055);
  EXPECT_LT(r.tpot_s(), 0.25);
  EXPECT_GE(r.latency_s(), 0.145 + 4 * 0.06);
  EXPECT_TRUE(std::is_sorted(r.token_times.begin(), r.token_times.end()));

  // What went over the wire follows the contract.
  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].path, "/v1/completions");
  EXPECT_EQ(seen[0].authorization, "Bearer sekrit");
  EXPECT_EQ(seen[0].request_id, "loadgen-0-123");
  const auto& b = seen[0].body;
  EXPECT_EQ(b["prompt"], "ok:5:60:150");
  EXPECT_EQ(b["stream"], true);
  EXPECT_EQ(b["stream_options"]["include_usage"], true);
  EXPECT_EQ(b["max_tokens"], 16);
  EXPECT_EQ(b["deadline_ms"], 5000);
  EXPECT_EQ(b["task"], "pydoc");
  EXPECT_EQ(b["seed"], 123);
  EXPECT_FALSE(b.contains("tier"));
}

TEST(Client, ChatStreamingAndNonStreaming) {
  MockServer server;
  RequestResult r = send(server, "ok:3:5", /*stream=*/true, /*chat=*/true);
  EXPECT_EQ(r.outcome, Outcome::kOk) << r.error_message;
  EXPECT_EQ(r.text, "t0 t1 t2 ");
  EXPECT_EQ(server.requests().back().path, "/v1/chat/completions");
  EXPECT_EQ(server.requests().back().body["messages"][0]["content"], "ok:3:5");

  r = send(server, "ok:4:5", /*stream=*/false, /*chat=*/true);
  EXPECT_EQ(r.outcome, Outcome::kOk) << r.error_message;
  EXPECT_EQ(r.text, "t0 t1 t2 t3 ");
  EXPECT_EQ(r.output_tokens(), 4);
  EXPECT_LT(r.ttft_s, 0);  // not measurable without streaming
  EXPECT_EQ(r.chunks, 0);

  r = send(server, "ok:2:5", /*stream=*/false, /*chat=*/false);
  EXPECT_EQ(r.outcome, Outcome::kOk) << r.error_message;
  EXPECT_EQ(r.text, "t0 t1 ");
  EXPECT_EQ(r.tier, "mock");
  EXPECT_EQ(r.finish_reason, "length");
}

TEST(Client, ErrorStatusesAreClassified) {
  MockServer server;
  RequestResult r = send(server, "429");
  EXPECT_EQ(r.outcome, Outcome::kQueueFull);
  EXPECT_EQ(r.http_status, 429);
  EXPECT_EQ(r.retry_after_s, 3);
  EXPECT_EQ(r.error_code, "queue_full");

  r = send(server, "408");
  EXPECT_EQ(r.outcome, Outcome::kDeadline);
  EXPECT_EQ(r.error_code, "deadline_exceeded");

  EXPECT_EQ(send(server, "503").outcome, Outcome::kUnavailable);
  EXPECT_EQ(send(server, "400").outcome, Outcome::kClient4xx);
  EXPECT_EQ(send(server, "500").outcome, Outcome::kServer5xx);
  EXPECT_EQ(send(server, "429", /*stream=*/false).outcome, Outcome::kQueueFull);
}

TEST(Client, MidStreamDeadlineErrorEvent) {
  MockServer server;
  const RequestResult r = send(server, "deadline-mid");
  EXPECT_EQ(r.outcome, Outcome::kDeadlineStream);
  EXPECT_EQ(r.error_code, "deadline_exceeded");
  EXPECT_EQ(r.chunks, 2);  // the tokens before the error were still seen
  EXPECT_EQ(r.text, "a b ");
}

TEST(Client, ConnectionClosedMidStream) {
  MockServer server;
  const RequestResult r = send(server, "close");
  EXPECT_EQ(r.outcome, Outcome::kDisconnected) << r.error_code;
  EXPECT_EQ(r.chunks, 2);
}

TEST(Client, HangingServerTimesOut) {
  MockServer server;
  RequestResult r = send(server, "hang", true, false, /*timeout_s=*/0.4);
  EXPECT_EQ(r.outcome, Outcome::kTimeout) << r.error_code;
  EXPECT_GE(r.latency_s(), 0.38);
  EXPECT_LT(r.latency_s(), 2.0);

  r = send(server, "stall", true, false, /*timeout_s=*/0.4);  // one chunk, then silence
  EXPECT_EQ(r.outcome, Outcome::kTimeout) << r.error_code;
  EXPECT_EQ(r.chunks, 1);
  EXPECT_LT(r.latency_s(), 2.0);
}

TEST(Client, GarbageAndProtocolViolations) {
  MockServer server;
  EXPECT_EQ(send(server, "garbage").outcome, Outcome::kBadResponse);
  EXPECT_EQ(send(server, "garbage-json", /*stream=*/false).outcome, Outcome::kBadResponse);
  const RequestResult r = send(server, "no-done");
  EXPECT_EQ(r.outcome, Outcome::kBadResponse);
  EXPECT_NE(r.error_message.find("[DONE]"), std::string::npos);
}

TEST(Client, ServerDownIsAConnectionError) {
  ClientOptions o;
  o.url = "http://127.0.0.1:" + std::to_string(testing::unused_port());
  o.timeout_s = 2;
  Client c(o);
  const RequestResult r = c.send(spec("ok:1:1"), Client::Clock::now());
  EXPECT_EQ(r.outcome, Outcome::kConnection) << r.error_code;
  EXPECT_EQ(r.http_status, 0);
  EXPECT_LT(r.latency_s(), 1.0);
}

TEST(Client, CancelAllAbortsInFlightRequests) {
  MockServer server;
  ClientOptions o;
  o.url = server.url();
  o.timeout_s = 30;
  Client c(o);
  const auto start = Client::Clock::now();
  RequestResult r;
  std::thread t([&] { r = c.send(spec("hang"), start); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  c.cancel_all();
  t.join();
  EXPECT_EQ(r.outcome, Outcome::kCancelled);
  EXPECT_LT(r.latency_s(), 5.0);
  EXPECT_EQ(c.send(spec("ok:1:1"), start).outcome, Outcome::kCancelled);
}

TEST(Client, UrlParsing) {
  EXPECT_EQ(Endpoint::parse("http://127.0.0.1:8080").port, 8080);
  EXPECT_EQ(Endpoint::parse("http://localhost:9/").host, "localhost");
  EXPECT_EQ(Endpoint::parse("example.org").port, 80);
  EXPECT_THROW(Endpoint::parse("https://x:1"), Error);
  EXPECT_THROW(Endpoint::parse("http://x:http"), Error);
  EXPECT_THROW(Endpoint::parse("http://x:1/v1"), Error);
}

}  // namespace
}  // namespace tandem::loadgen
