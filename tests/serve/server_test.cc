// End-to-end tests of `tandem serve`'s HTTP API over the demo models, through
// a real HTTP client on 127.0.0.1.
#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "serve/serve_test_util.h"
#include "tandem/decode/driver.h"
#include "tandem/decode/strategy.h"
#include "tandem/tokenizer/stream_decoder.h"

namespace tandem::testing {
namespace {

using nlohmann::json;

const char* kPrompt = "The LORD is my shepherd; I shall not";

// Greedy `ar` decoding of the big demo model, outside the server.
std::string reference_greedy(const std::string& prompt, int64_t n, const Tokenizer& tok) {
  auto model = Model::load(source_path("models/big-q8_0.gguf"));
  KvCache cache = model->make_cache(512, 1);
  ThreadPool pool(2);
  decode::Driver driver(*model, cache, nullptr, nullptr, pool);
  decode::DecodeOptions o;
  o.max_new_tokens = n;
  o.n_ctx = 512;
  for (int32_t id = 0; id < tok.n_vocab(); ++id)
    if (tok.is_end_of_generation(id)) o.stop_tokens.push_back(id);
  auto s = decode::make_strategy(tok.encode(prompt, true, false), o);
  driver.run(*s);
  TokenStreamDecoder d(tok);
  std::string text;
  for (int32_t t : s->generated()) text += d.push(t);
  return text + d.finish();
}

json completion(const std::string& prompt, int64_t n) {
  return json{{"model", "tandem"}, {"prompt", prompt}, {"max_tokens", n}, {"temperature", 0}};
}

std::string streamed_text(const SseResult& r, const char* field = "text") {
  std::string text;
  for (const std::string& d : r.data) {
    if (d == "[DONE]") break;
    json j = json::parse(d);
    if (!j.contains("choices") || j["choices"].empty()) continue;
    const json& c = j["choices"][0];
    if (std::string(field) == "text") {
      text += c.value("text", "");
    } else if (c.contains("delta") && c["delta"].contains("content")) {
      text += c["delta"]["content"].get<std::string>();
    }
  }
  return text;
}

class ServeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    TestServerOptions o;
    o.engine.slots = 4;
    server_ = new TestServer(o);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static TestServer* server_;
};
TestServer* ServeTest::server_ = nullptr;

TEST_F(ServeTest, HealthAndModels) {
  auto c = server_->client();
  auto h = c.Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  auto m = c.Get("/v1/models");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->status, 200);
  json j = json::parse(m->body);
  std::vector<std::string> ids;
  for (const json& d : j["data"]) ids.push_back(d["id"]);
  EXPECT_EQ(ids, (std::vector<std::string>{"tandem", "big", "spec", "bild", "little"}));
}

TEST_F(ServeTest, GreedyCompletionMatchesDirectDecoding) {
  auto c = server_->client();
  auto res = c.Post("/v1/completions", {{"x-request-id", "abc-123"}},
                    completion(kPrompt, 24).dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("x-request-id"), "abc-123");
  json j = json::parse(res->body);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["tier"], "big");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["completion_tokens"], 24);
  const std::string want = reference_greedy(kPrompt, 24, server_->engine().tokenizer());
  EXPECT_EQ(j["choices"][0]["text"].get<std::string>(), want);
  EXPECT_EQ(
      j["usage"]["prompt_tokens"].get<int64_t>(),
      static_cast<int64_t>(server_->engine().tokenizer().encode(kPrompt, true, false).size()));
}

TEST_F(ServeTest, StreamingGivesTheSameTextAndEndsWithDone) {
  auto c = server_->client();
  json body = completion(kPrompt, 24);
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  SseResult r = post_sse(c, "/v1/completions", body);
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_GE(r.data.size(), 3u);
  EXPECT_EQ(r.data.back(), "[DONE]");
  json usage = json::parse(r.data[r.data.size() - 2]);
  EXPECT_EQ(usage["usage"]["completion_tokens"], 24);
  json last = json::parse(r.data[r.data.size() - 3]);
  EXPECT_EQ(last["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(streamed_text(r), reference_greedy(kPrompt, 24, server_->engine().tokenizer()));
}

TEST_F(ServeTest, EveryTierServesAndSpeculativeTiersAreLossless) {
  auto c = server_->client();
  const std::string want = reference_greedy(kPrompt, 20, server_->engine().tokenizer());
  for (const char* tier : {"big", "spec", "little", "bild"}) {
    json body = completion(kPrompt, 20);
    body["tier"] = tier;
    auto res = c.Post("/v1/completions", body.dump(), "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    json j = json::parse(res->body);
    EXPECT_EQ(j["tier"], tier);
    EXPECT_EQ(j["usage"]["completion_tokens"], 20);
    // spec greedy is exact; bild and little may differ.
    if (std::string(tier) == "spec" || std::string(tier) == "big") {
      EXPECT_EQ(j["choices"][0]["text"], want) << tier;
    }
  }
  EXPECT_GE(server_->metrics().value("tandem:spec_drafted_tokens_total", {"spec"}), 1.0);
}

TEST_F(ServeTest, SpeculativeDraftsRunAsSubStepsOfOneIteration) {
  // A spec sequence's little-model drafts run back to back inside one engine iteration, so
  // the iterations are its big-model forwards (prefill + one per verification) plus the
  // little model's prefill -- not one per draft token as well.
  auto c = server_->client();
  serve::Metrics& m = server_->metrics();
  const double it0 = m.value("tandem:engine_iterations_total");
  const double big0 = m.value("tandem:forward_calls_total", {"big"});
  const double little0 = m.value("tandem:forward_calls_total", {"little"});
  json body = completion(kPrompt, 32);
  body["tier"] = "spec";
  auto res = c.Post("/v1/completions", body.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json::parse(res->body)["choices"][0]["text"],
            reference_greedy(kPrompt, 32, server_->engine().tokenizer()));
  const double iterations = m.value("tandem:engine_iterations_total") - it0;
  const double big = m.value("tandem:forward_calls_total", {"big"}) - big0;
  const double little = m.value("tandem:forward_calls_total", {"little"}) - little0;
  EXPECT_GT(little, big);  // it drafted
  EXPECT_LE(iterations, big + 1);
  EXPECT_LT(iterations, 32);
}

TEST_F(ServeTest, ConcurrentRequestsAreBatchedAndEachIsCorrect) {
  const std::string want = reference_greedy(kPrompt, 16, server_->engine().tokenizer());
  const double batches_before = server_->metrics().value("tandem:batch_size");
  std::vector<std::thread> clients;
  std::vector<std::string> got(6);
  for (int i = 0; i < 6; ++i)
    clients.emplace_back([&, i] {
      auto c = server_->client();
      json body = completion(kPrompt, 16);
      if (i % 2) body["stream"] = true;
      if (i % 2) {
        got[i] = streamed_text(post_sse(c, "/v1/completions", body));
      } else {
        auto res = c.Post("/v1/completions", body.dump(), "application/json");
        got[i] = res && res->status == 200 ? json::parse(res->body)["choices"][0]["text"] : "";
      }
    });
  for (auto& t : clients) t.join();
  for (int i = 0; i < 6; ++i) EXPECT_EQ(got[i], want) << "client " << i;
  // Six requests of 16 tokens on 4 slots: far fewer forwards than 6 x 16 if they were batched.
  const double forwards = server_->metrics().value("tandem:batch_size") - batches_before;
  EXPECT_LT(forwards, 6 * 17 * 0.6);
}

TEST_F(ServeTest, ChatCompletionsStreamingAndNot) {
  auto c = server_->client();
  json body = {{"model", "big"},
               {"messages", {{{"role", "user"}, {"content", "Say something."}}}},
               {"max_tokens", 8},
               {"temperature", 0}};
  auto res = c.Post("/v1/chat/completions", body.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  json j = json::parse(res->body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  const std::string text = j["choices"][0]["message"]["content"];
  body["stream"] = true;
  SseResult r = post_sse(c, "/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.data.front())["object"], "chat.completion.chunk");
  EXPECT_EQ(json::parse(r.data.front())["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(streamed_text(r, "delta"), text);
}

TEST_F(ServeTest, StopStringsCutTheTextAndAreNotEmitted) {
  auto c = server_->client();
  const std::string full = reference_greedy(kPrompt, 24, server_->engine().tokenizer());
  ASSERT_GT(full.size(), 12u);
  const std::string stop = full.substr(8, 3);  // the first occurrence decides
  const std::string want = full.substr(0, full.find(stop));
  for (bool stream : {false, true}) {
    json body = completion(kPrompt, 24);
    body["stop"] = {"never-in-output-zzz", stop};
    body["stream"] = stream;
    std::string text, finish;
    if (stream) {
      SseResult r = post_sse(c, "/v1/completions", body);
      text = streamed_text(r);
      finish = json::parse(r.data[r.data.size() - 2])["choices"][0]["finish_reason"];
    } else {
      auto res = c.Post("/v1/completions", body.dump(), "application/json");
      ASSERT_TRUE(res);
      json j = json::parse(res->body);
      text = j["choices"][0]["text"];
      finish = j["choices"][0]["finish_reason"];
    }
    EXPECT_EQ(text, want) << "stream " << stream;
    EXPECT_EQ(finish, "stop");
  }
}

TEST_F(ServeTest, SeedMakesSamplingReproducible) {
  auto c = server_->client();
  auto sample = [&](int seed) {
    json body = {{"prompt", kPrompt}, {"max_tokens", 24}, {"temperature", 1.0}, {"seed", seed}};
    auto res = c.Post("/v1/completions", body.dump(), "application/json");
    return res && res->status == 200
               ? json::parse(res->body)["choices"][0]["text"].get<std::string>()
               : std::string("<failed>");
  };
  const std::string a = sample(7), b = sample(7), other = sample(8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, other);  // 24 tokens at temperature 1: a collision would be astronomically unlikely
}

TEST_F(ServeTest, BadRequestsGetOpenAiErrors) {
  auto c = server_->client();
  auto check = [&](const std::string& body, int status, const std::string& param) {
    auto res = c.Post("/v1/completions", body, "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, status) << body;
    json j = json::parse(res->body);
    ASSERT_TRUE(j.contains("error")) << res->body;
    EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
    if (!param.empty()) {
      EXPECT_EQ(j["error"]["param"], param) << body;
    }
  };
  check("{not json", 400, "");
  check("[1, 2]", 400, "");
  check(R"({"prompt": "hi", "max_tokens": "ten"})", 400, "max_tokens");
  check(R"({"prompt": "hi", "temperature": "hot"})", 400, "temperature");
  check(R"({"prompt": "hi", "temperature": 9})", 400, "temperature");
  check(R"({"prompt": 42})", 400, "prompt");
  check(R"({"prompt": "hi", "stop": [1]})", 400, "stop");
  check(R"({"prompt": "hi", "stream": "yes"})", 400, "stream");
  check(R"({"prompt": "hi", "model": "gpt-9"})", 404, "model");
  std::string long_prompt;
  for (int i = 0; i < 400; ++i) long_prompt += "Deliver the poor and needy. ";
  check(json{{"prompt", long_prompt}}.dump(), 400, "prompt");
  auto chat = c.Post("/v1/chat/completions", R"({"messages": "hello"})", "application/json");
  ASSERT_TRUE(chat);
  EXPECT_EQ(chat->status, 400);
  auto none = c.Get("/v1/nothing-here");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 404);
  EXPECT_TRUE(json::parse(none->body).contains("error"));
}

TEST_F(ServeTest, ClientDisconnectFreesTheSlot) {
  auto c = server_->client();
  const double cancelled = server_->metrics().value("tandem:cancelled_total", {"big"});
  json body = completion(kPrompt, 400);
  body["stream"] = true;
  SseResult r = post_sse(c, "/v1/completions", body, /*stop_after=*/3);
  EXPECT_EQ(r.data.size(), 3u);
  // The server notices the hang-up and frees the sequence long before 400 tokens are done.
  EXPECT_TRUE(eventually([&] {
    return server_->metrics().value("tandem:cancelled_total", {"big"}) == cancelled + 1 &&
           server_->metrics().value("tandem:running_requests") == 0;
  }));
  // Through /metrics as a router would see it.
  auto m = server_->client().Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("vllm:num_requests_running 0\n"), std::string::npos);
}

TEST_F(ServeTest, DeadlineThatCannotBeMetIsAnsweredWithAnError) {
  auto c = server_->client();
  json body = completion(kPrompt, 400);
  body["deadline_ms"] = 50;
  auto res = c.Post("/v1/completions", body.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 408) << res->body;
  EXPECT_EQ(json::parse(res->body)["error"]["code"], "deadline_exceeded");
  body["stream"] = true;
  SseResult r = post_sse(c, "/v1/completions", body);
  if (r.status == 200) {  // it started in time: the error arrives as an event
    ASSERT_GE(r.data.size(), 2u);
    EXPECT_EQ(json::parse(r.data[r.data.size() - 2])["error"]["code"], "deadline_exceeded");
  } else {
    EXPECT_EQ(r.status, 408);
  }
  EXPECT_TRUE(eventually([&] { return server_->metrics().value("tandem:running_requests") == 0; }));
}

TEST(ServeAuth, ApiKeyIsRequiredWhenSet) {
  TestServerOptions o;
  o.server.api_key = "sekrit";
  o.with_little = false;
  TestServer s(o);
  auto c = s.client();
  const std::string body = completion("Hello", 2).dump();
  auto none = c.Post("/v1/completions", body, "application/json");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(json::parse(none->body)["error"]["type"], "authentication_error");
  auto wrong =
      c.Post("/v1/completions", {{"Authorization", "Bearer nope"}}, body, "application/json");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  auto right =
      c.Post("/v1/completions", {{"Authorization", "Bearer sekrit"}}, body, "application/json");
  ASSERT_TRUE(right);
  EXPECT_EQ(right->status, 200);
  auto health = c.Get("/health");  // probes need no key
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST(ServeOverload, FullQueueAnswers429WithRetryAfter) {
  TestServerOptions o;
  o.engine.slots = 1;
  o.engine.max_queued_requests = 1;
  o.with_little = false;
  TestServer s(o);
  std::atomic<int> ok{0}, full{0}, other{0};
  std::atomic<bool> retry_after{true};
  std::vector<std::thread> clients;
  for (int i = 0; i < 6; ++i)
    clients.emplace_back([&] {
      auto c = s.client();
      auto res = c.Post("/v1/completions", completion(kPrompt, 60).dump(), "application/json");
      if (!res) {
        ++other;
      } else if (res->status == 200) {
        ++ok;
      } else if (res->status == 429) {
        ++full;
        if (std::atoi(res->get_header_value("Retry-After").c_str()) < 1) retry_after = false;
        if (json::parse(res->body)["error"]["code"] != "queue_full") ++other;
      } else {
        ++other;
      }
    });
  for (auto& t : clients) t.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_GE(ok.load(), 1);
  EXPECT_GE(full.load(), 1);
  EXPECT_EQ(ok + full, 6);
  EXPECT_TRUE(retry_after.load());
  EXPECT_EQ(s.metrics().value("tandem:requests_total", {"big", "429"}), full.load());
}

TEST(ServePolicy, QueuePolicyMovesToFasterTiersUnderLoad) {
  TestServerOptions o;
  o.engine.slots = 1;
  o.engine.max_queued_requests = 32;
  o.policy = "queue:1,3";  // big while nothing waits, then spec, then bild
  TestServer s(o);
  std::vector<std::thread> clients;
  std::mutex mu;
  std::map<std::string, int> tiers;
  for (int i = 0; i < 8; ++i)
    clients.emplace_back([&] {
      auto c = s.client();
      auto res = c.Post("/v1/completions", completion(kPrompt, 30).dump(), "application/json");
      if (res && res->status == 200) {
        std::lock_guard<std::mutex> lock(mu);
        ++tiers[json::parse(res->body)["tier"].get<std::string>()];
      }
    });
  for (auto& t : clients) t.join();
  int total = 0;
  for (auto& [k, v] : tiers) total += v;
  EXPECT_EQ(total, 8);
  EXPECT_GE(tiers["big"], 1);
  EXPECT_GE(tiers["spec"] + tiers["bild"], 1) << "a queue built up, so the policy must step down";
}

// The queue's deadline check estimates a request's prompt cost from its own
// tier's models: the engine keeps one prompt-reading estimate per model (the
// simulator's per-tier prompt cost), so a request to the little tier moves only
// the little model's estimate, and a speculative one both.
TEST(ServeDeadlines, PromptCostEstimateIsKeptPerModel) {
  TestServer server;
  auto c = server.client();
  serve::Metrics& m = server.metrics();
  const char* gauge = "tandem:prefill_seconds_per_token";
  auto post = [&](const char* tier) {
    json body = completion("The quick brown fox jumps over the lazy dog because", 4);
    body["tier"] = tier;
    auto res = c.Post("/v1/completions", body.dump(), "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
  };
  EXPECT_EQ(m.value(gauge, {"big"}), 0.0);
  EXPECT_EQ(m.value(gauge, {"little"}), 0.0);
  post("little");
  const double little = m.value(gauge, {"little"});
  EXPECT_GT(little, 0.0);
  EXPECT_EQ(m.value(gauge, {"big"}), 0.0);  // the big model read no prompt
  post("spec");                             // both models read the prompt
  EXPECT_GT(m.value(gauge, {"big"}), 0.0);
  EXPECT_NE(m.value(gauge, {"little"}), little);
}

}  // namespace
}  // namespace tandem::testing
