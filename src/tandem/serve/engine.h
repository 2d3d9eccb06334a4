// Engine — the serving core: loaded models, a bounded request queue and one
// loop that advances every running sequence with continuous batching.
//
// Contract:
//  - Construction loads every model of the configuration (slow; the HTTP
//    server answers 503 meanwhile), checks that they share one token list, and
//    gives each model a KV cache of `slots` sequences of `n_ctx` tokens
//    (allocated on first use, never more: memory is bounded by slots x n_ctx).
//    A sequence occupies the same slot id in every model its tier uses.
//  - submit() validates a request against the context, picks its tier (the
//    request's own, else the Policy's choice; a request without a deadline is
//    shown to the Policy with the routing deadline, EngineOptions::
//    routing_deadline_s, which is not enforced), and either queues it or answers at once
//    with an ApiError: 429 queue_full (with Retry-After) when the queue holds
//    max_queued_requests requests or max_queued_tokens tokens, 503 unavailable
//    while draining, 400 for a prompt the context cannot hold.
//  - The loop (its own thread, started by start()) repeats: admit queued
//    requests into free slots (FIFO), drop those that were cancelled or can no
//    longer meet their deadline (408 deadline_exceeded), collect the next
//    ForwardRequest of every running decode strategy, batch them into one
//    Model::forward per model and logits mode, feed the results back, and
//    stream the new text (stop strings held back until they cannot match).
//    Before that main forward, the little-model drafts of speculative (spec,
//    bild) sequences run as back-to-back batched sub-steps until each waits
//    for its verification (at most the tiers' largest draft_max), so one
//    iteration is one draft-verify cycle for them; ar sequences of a drafting
//    model ride along in those sub-steps (a token per sub-step).
//    Prompts longer than prefill_chunk tokens are prefilled in chunks, within a
//    per-iteration token budget that running decodes get first, so streams
//    keep flowing while a long prompt is read.
//  - A running request whose deadline passes is ended with deadline_exceeded;
//    one whose client cancelled is dropped at the next iteration; either way
//    its slot is freed at once.
//  - With nothing to run, the loop polls for new work for
//    EngineOptions::idle_spin_s before it sleeps on the condition variable.
//  - drain() refuses new requests (503) and lets running and queued ones
//    finish; stop() ends the loop, answering anything left with 503.
// Thread safety: submit(), load(), drain(), idle() and the accessors may be
// called from any thread; the loop thread owns models, caches and strategies.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tandem/base/thread_pool.h"
#include "tandem/model/model.h"
#include "tandem/sampling/sampler.h"
#include "tandem/serve/metrics.h"
#include "tandem/serve/policy.h"
#include "tandem/serve/stream.h"
#include "tandem/serve/tiers.h"
#include "tandem/tokenizer/tokenizer.h"

namespace tandem::serve {

using Clock = std::chrono::steady_clock;

struct EngineOptions {
  int slots = 8;                        // concurrent sequences
  int64_t n_ctx = 0;                    // per sequence; 0 = the smallest training context, <= 2048
  int64_t max_queued_requests = 64;     // waiting (not yet running) requests
  int64_t max_queued_tokens = 1 << 16;  // prompt + max_tokens of the waiting requests
  int64_t prefill_chunk = 128;          // most prompt tokens one sequence feeds per iteration
  int64_t batch_tokens = 256;           // token budget of one iteration (decodes always fit)
  int threads = 0;                      // compute threads; 0 = all CPUs
  // Models that read fewer weight bytes per token than this run their forwards
  // on the engine thread alone: a forward of a few-MiB model takes ~0.2 ms, and
  // handing its ~40 operators to a second thread costs more than it saves
  // (measured 2-6x slower with 2 threads on a loaded 2-core machine). 0 = never.
  int64_t single_thread_below_bytes = 8 << 20;
  // Deadline the policy is shown for requests without one (routing only, not
  // enforced; see policy.h): < 0 auto (the policy's default_routing_deadline_s),
  // 0 none, > 0 seconds.
  double routing_deadline_s = -1;
  // When the loop runs out of work it polls for new work this long before it
  // sleeps (0 = sleep at once; `tandem serve --idle-spin-ms`, default 1000).
  // On a virtual machine an idle vCPU costs the next requests: on the 2-vCPU
  // dev VM at 2.5 req/s (demo big model, 1 thread) mean latency was 338 ms
  // without the spin, 277 ms with 1 s and 267 ms with 2 s (10 % less time in
  // forwards). The price is up to this much of one core per idle period, so
  // embedders opt in.
  double idle_spin_s = 0;
};

struct GenerationParams {
  std::string id;               // request id, for logs and responses
  std::vector<int32_t> prompt;  // token ids, BOS included when the model wants one
  int64_t max_tokens = 16;
  SamplingParams sampling;        // seed already resolved
  std::vector<std::string> stop;  // stop strings (not emitted)
  std::string task;               // task/domain label for policies
  int tier = -1;                  // -1: the policy picks
  double deadline_s = 0;          // > 0: answer within this many seconds of arrival
  Clock::time_point arrival = Clock::now();
};

struct Admission {
  std::shared_ptr<RequestStream> stream;  // null when refused
  ApiError error;                         // when refused
};

class Engine {
 public:
  // Loads the models (throws tandem::Error with the file's problem).
  Engine(ServeConfig config, EngineOptions options, std::unique_ptr<Policy> policy,
         Metrics& metrics);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void start();
  Admission submit(GenerationParams params);
  void drain();
  bool draining() const;
  bool idle() const;  // nothing queued or running
  void stop();

  LoadState load() const;
  const ServeConfig& config() const { return config_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const Policy& policy() const { return *policy_; }
  // The resolved routing deadline for deadline-free requests (0: none).
  double routing_deadline_s() const { return routing_deadline_s_; }
  int64_t n_ctx() const { return n_ctx_; }
  int slots() const { return options_.slots; }
  // The model that answers for the tokenizer and chat template (the first tier's).
  const Model& primary_model() const;

 private:
  struct Sequence;
  struct Pending;

  void loop();
  void notify();         // wakes the loop (spinning or sleeping)
  void spin_for_work();  // polls for a notification for up to idle_spin_s
  void admit_locked(Clock::time_point now);
  void step();
  void emit(Sequence& s);
  void finish(Sequence& s, FinishReason reason);
  void fail_sequence(Sequence& s, ApiError e);
  void release(Sequence& s);
  void update_gauges_locked();
  double estimated_wait_s_locked() const;
  LoadState load_locked() const;
  void count_request(const std::string& tier, int status);

  ServeConfig config_;
  EngineOptions options_;
  std::unique_ptr<Policy> policy_;
  double routing_deadline_s_ = 0;  // resolved options_.routing_deadline_s
  Metrics& metrics_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<ThreadPool> solo_pool_;  // one thread: the caller (small models)
  std::vector<ThreadPool*> model_pool_;    // per model: pool_ or solo_pool_
  std::vector<std::unique_ptr<Model>> models_;
  std::vector<KvCache> caches_;
  std::vector<std::vector<int>> tier_models_;  // per tier: {big model index, little or -1}
  int max_draft_steps_ = 0;                    // the largest draft_max of a speculative tier
  std::unique_ptr<Tokenizer> tokenizer_;
  std::vector<int32_t> stop_tokens_;
  int64_t n_ctx_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> signals_{0};  // bumped with every cv_ notification (idle spin)
  std::deque<std::unique_ptr<Pending>> queue_;
  int64_t queued_tokens_ = 0;
  std::vector<int> free_slots_;
  std::vector<std::unique_ptr<Sequence>> running_;  // loop thread only (sizes read under mu_)
  std::vector<int64_t> tier_queued_, tier_running_, tier_queued_tokens_, tier_inflight_;
  double arrival_rate_ = 0;
  Clock::time_point last_arrival_ = Clock::now();
  double ewma_request_s_ = 1.0;  // admission to finish
  // Per model: forward seconds per token of the calls that read prompt tokens (EWMA).
  // A queued request is dropped when its prompt, read by its tier's models
  // (prefill_s_tok_locked), would land past its deadline, as the simulator's
  // per-tier prompt cost does.
  std::vector<double> ewma_prefill_s_tok_;
  double prefill_s_tok_locked(int tier) const;
  bool draining_ = false;
  bool stopping_ = false;
  bool spun_since_work_ = true;  // loop thread only: idle spin once per idle period
  std::thread thread_;
};

}  // namespace tandem::serve
