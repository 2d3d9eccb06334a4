#include "tandem/serve/engine.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "tandem/base/cpu_relax.h"
#include "tandem/base/error.h"
#include "tandem/base/timer.h"
#include "tandem/decode/strategy.h"
#include "tandem/gguf/reader.h"
#include "tandem/tokenizer/stream_decoder.h"

namespace tandem::serve {
namespace {

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

ApiError deadline_error(const GenerationParams& p, const char* when) {
  return ApiError{408,
                  "deadline_exceeded",
                  "deadline_exceeded",
                  fmt::format("request {} cannot be answered within its deadline of {} ms ({})",
                              p.id, std::lround(p.deadline_s * 1000), when),
                  "deadline_ms",
                  0};
}

}  // namespace

// A request waiting in the queue.
struct Engine::Pending {
  GenerationParams params;
  std::shared_ptr<RequestStream> stream;
  int tier;
  int64_t cost;  // prompt + max_tokens (clipped to the context): its share of the queue
};

// A request in the engine: its decode strategy, its slot and its text so far.
struct Engine::Sequence {
  GenerationParams params;
  std::shared_ptr<RequestStream> stream;
  int tier = 0;
  int slot = 0;
  std::unique_ptr<decode::Strategy> strategy;
  std::unique_ptr<TokenStreamDecoder> decoder;
  std::string text;  // generated text not yet sent (held back for stop strings)
  std::optional<decode::ForwardRequest> pending;
  size_t fed = 0;  // tokens of `pending` already run (chunked prefill)
  int64_t completion_tokens = 0;
  int64_t inflight = 0;  // its share of tier_inflight_: tokens it may still generate
  Clock::time_point admitted;
  Clock::time_point last_token;
  bool got_first_token = false;
  bool ended = false;
  decode::DecodeStats reported;  // stats already added to the metrics
};

Engine::Engine(ServeConfig config, EngineOptions options, std::unique_ptr<Policy> policy,
               Metrics& metrics)
    : config_(std::move(config)), options_(options), policy_(std::move(policy)), metrics_(metrics) {
  if (options_.slots < 1) fail("--slots must be at least 1, got {}", options_.slots);
  if (options_.max_queued_requests < 0 || options_.max_queued_tokens < 0)
    fail("queue limits must be >= 0");
  if (options_.prefill_chunk < 1) fail("--prefill-chunk must be at least 1");
  if (options_.batch_tokens < 1) fail("--batch-tokens must be at least 1");
  pool_ = std::make_unique<ThreadPool>(options_.threads > 0 ? options_.threads
                                                            : ThreadPool::default_threads());
  std::vector<std::string> token_list;
  int64_t ctx = options_.n_ctx;
  for (const ModelSpec& m : config_.models) {
    spdlog::info("loading model '{}' from {}", m.name, m.path);
    models_.push_back(Model::load(m.path));
    const gguf::Value* tokens = models_.back()->file().find("tokenizer.ggml.tokens");
    if (!tokens) fail("{}: the model has no tokenizer (tokenizer.ggml.tokens)", m.path);
    if (token_list.empty())
      token_list = tokens->as_string_array();
    else if (tokens->as_string_array() != token_list)
      fail(
          "{}: its token list differs from model '{}''s; all models of a server must share one "
          "tokenizer",
          m.path, config_.models[0].name);
    if (options_.n_ctx == 0)
      ctx = std::min<int64_t>(ctx == 0 ? 2048 : ctx, models_.back()->config().n_ctx_train);
  }
  n_ctx_ = ctx;
  solo_pool_ = std::make_unique<ThreadPool>(1);
  for (const auto& m : models_)
    model_pool_.push_back(m->weights().bytes_per_token() < options_.single_thread_below_bytes
                              ? solo_pool_.get()
                              : pool_.get());
  if (n_ctx_ < 2) fail("context size {} is too small", n_ctx_);
  for (const auto& m : models_) caches_.push_back(m->make_cache(n_ctx_, options_.slots));
  ewma_prefill_s_tok_.assign(models_.size(), 1e-3);
  for (const TierSpec& t : config_.tiers) {
    tier_models_.push_back(
        {config_.model_index(t.big), t.little.empty() ? -1 : config_.model_index(t.little)});
    if (!t.little.empty()) max_draft_steps_ = std::max<int>(max_draft_steps_, t.draft_max);
  }
  tokenizer_ = Tokenizer::from_gguf(primary_model().file());
  for (int32_t id = 0; id < tokenizer_->n_vocab(); ++id)
    if (tokenizer_->is_end_of_generation(id)) stop_tokens_.push_back(id);
  for (int s = options_.slots - 1; s >= 0; --s) free_slots_.push_back(s);
  const size_t n = config_.tiers.size();
  tier_queued_.assign(n, 0), tier_running_.assign(n, 0), tier_queued_tokens_.assign(n, 0),
      tier_inflight_.assign(n, 0);
  metrics_.set("tandem:policy_info", 1, {policy_->name()});
  routing_deadline_s_ = resolve_routing_deadline(options_.routing_deadline_s, *policy_);
  if (routing_deadline_s_ > 0)
    spdlog::info("policy {} routes requests without deadline_ms as if their deadline were {} ms",
                 policy_->name(), std::lround(routing_deadline_s_ * 1000));
  update_gauges_locked();
}

Engine::~Engine() {
  stop();
}

const Model& Engine::primary_model() const {
  return *models_[tier_models_[0][0]];
}

void Engine::start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { loop(); });
}

void Engine::drain() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    draining_ = true;
  }
  notify();
}

bool Engine::draining() const {
  std::lock_guard<std::mutex> lock(mu_);
  return draining_;
}

bool Engine::idle() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.empty() && static_cast<int>(free_slots_.size()) == options_.slots;
}

void Engine::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    draining_ = true;
  }
  notify();
  if (thread_.joinable()) thread_.join();
  // Anything still queued gets an answer: nobody will serve it now.
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& p : queue_)
    p->stream->push(Event::failure(
        ApiError{503, "unavailable", "unavailable", "the server is shutting down", "", 1}));
  queue_.clear();
}

void Engine::count_request(const std::string& tier, int status) {
  metrics_.add("tandem:requests_total", 1, {tier, std::to_string(status)});
}

LoadState Engine::load_locked() const {
  LoadState s;
  s.tiers.resize(config_.tiers.size());
  for (size_t t = 0; t < s.tiers.size(); ++t)
    s.tiers[t] =
        TierLoad{tier_queued_[t], tier_running_[t], tier_queued_tokens_[t], tier_inflight_[t]};
  s.queued = static_cast<int64_t>(queue_.size());
  s.free_slots = static_cast<int64_t>(free_slots_.size());
  s.running = options_.slots - s.free_slots;
  s.arrival_rate = arrival_rate_ * std::exp(-seconds_between(last_arrival_, Clock::now()) / 10.0);
  return s;
}

LoadState Engine::load() const {
  std::lock_guard<std::mutex> lock(mu_);
  return load_locked();
}

double Engine::estimated_wait_s_locked() const {
  const double ahead = static_cast<double>(queue_.size()) + 1;
  return std::max(1.0, std::ceil(ahead * ewma_request_s_ / options_.slots));
}

Admission Engine::submit(GenerationParams p) {
  const int64_t prompt = static_cast<int64_t>(p.prompt.size());
  if (prompt == 0)
    return {nullptr, ApiError{400, "invalid_request_error", "empty_prompt",
                              "the prompt encodes to no tokens", "prompt", 0}};
  if (prompt >= n_ctx_)
    return {nullptr,
            ApiError{400, "invalid_request_error", "context_length_exceeded",
                     fmt::format("the prompt has {} tokens but the context holds {} (and at least "
                                 "one token must be generated); shorten the prompt",
                                 prompt, n_ctx_),
                     "prompt", 0}};
  const int64_t cost = prompt + std::min<int64_t>(p.max_tokens, n_ctx_ - prompt);
  std::unique_lock<std::mutex> lock(mu_);
  const Clock::time_point now = Clock::now();
  // Arrival rate: exponentially decayed count over a 10 s time constant. The policy
  // sees the load before this arrival is counted, as the simulator shows it to the
  // policies it trains (sim/simulator.h).
  auto count_arrival = [&] {
    arrival_rate_ = arrival_rate_ * std::exp(-seconds_between(last_arrival_, now) / 10.0) + 0.1;
    last_arrival_ = now;
  };
  auto refuse = [&](ApiError e) {
    lock.unlock();
    count_request(p.tier >= 0 ? config_.tiers[p.tier].name : "", e.status);
    return Admission{nullptr, std::move(e)};
  };
  if (draining_) {
    count_arrival();
    return refuse(ApiError{503, "unavailable", "unavailable",
                           "the server is shutting down; retry on another replica", "", 1});
  }
  int tier = p.tier;
  if (tier >= 0) {
    count_arrival();
  } else {
    // A request without a deadline is routed with the routing deadline (policy.h).
    RequestFeatures f{p.task, prompt, p.max_tokens,
                      routing_deadline(p.deadline_s, routing_deadline_s_)};
    tier = policy_->choose(f, load_locked());
    count_arrival();
    metrics_.add(
        "tandem:policy_decisions_total", 1,
        {tier >= 0 && tier < static_cast<int>(config_.tiers.size()) ? config_.tiers[tier].name
                                                                    : std::string("rejected")});
    if (tier == Policy::kReject) {
      metrics_.add("tandem:policy_rejections_total", 1);
      return refuse(ApiError{429, "rate_limit_error", "rejected_by_policy",
                             fmt::format("the routing policy {} refused the request under the "
                                         "current load; retry later",
                                         policy_->name()),
                             "", static_cast<int>(estimated_wait_s_locked())});
    }
    if (tier < 0 || tier >= static_cast<int>(config_.tiers.size()))
      fail("policy {} chose tier {} of {}", policy_->name(), tier, config_.tiers.size());
  }
  p.tier = tier;
  if (static_cast<int64_t>(queue_.size()) >= options_.max_queued_requests ||
      queued_tokens_ + cost > options_.max_queued_tokens)
    return refuse(ApiError{
        429, "rate_limit_error", "queue_full",
        fmt::format("the queue is full ({} requests, {} tokens waiting; limits {} and {}); retry "
                    "after the Retry-After delay",
                    queue_.size(), queued_tokens_, options_.max_queued_requests,
                    options_.max_queued_tokens),
        "", static_cast<int>(estimated_wait_s_locked())});
  auto stream = std::make_shared<RequestStream>(p.id, config_.tiers[tier].name);
  queue_.push_back(std::make_unique<Pending>(Pending{std::move(p), stream, tier, cost}));
  queued_tokens_ += cost;
  ++tier_queued_[tier];
  tier_queued_tokens_[tier] += cost;
  update_gauges_locked();
  lock.unlock();
  notify();
  return {stream, {}};
}

void Engine::update_gauges_locked() {
  const double running = options_.slots - static_cast<double>(free_slots_.size());
  metrics_.set("tandem:queue_depth", static_cast<double>(queue_.size()));
  metrics_.set("tandem:queue_tokens", static_cast<double>(queued_tokens_));
  metrics_.set("tandem:running_requests", running);
  metrics_.set("vllm:num_requests_waiting", static_cast<double>(queue_.size()));
  metrics_.set("vllm:num_requests_running", running);
  for (size_t t = 0; t < config_.tiers.size(); ++t) {
    metrics_.set("tandem:tier_queued", static_cast<double>(tier_queued_[t]),
                 {config_.tiers[t].name});
    metrics_.set("tandem:tier_running", static_cast<double>(tier_running_[t]),
                 {config_.tiers[t].name});
  }
}

double Engine::prefill_s_tok_locked(int tier) const {
  const std::vector<int>& m = tier_models_[tier];  // {big, little or -1}
  return ewma_prefill_s_tok_[m[0]] + (m[1] >= 0 ? ewma_prefill_s_tok_[m[1]] : 0.0);
}

// Moves queued requests into free slots; answers the ones that were cancelled
// or can no longer meet their deadline.
void Engine::admit_locked(Clock::time_point now) {
  for (auto it = queue_.begin(); it != queue_.end();) {
    Pending& q = **it;
    const int64_t prompt = static_cast<int64_t>(q.params.prompt.size());
    const int64_t cost = q.cost;
    bool drop = q.stream->cancelled();
    if (!drop && q.params.deadline_s > 0) {
      const double waited = seconds_between(q.params.arrival, now);
      // The first token needs the whole prompt read: if even that would land past the
      // deadline, serving the request only wastes the engine.
      if (waited + static_cast<double>(prompt) * prefill_s_tok_locked(q.tier) >
          q.params.deadline_s) {
        q.stream->push(Event::failure(
            deadline_error(q.params, fmt::format("waited {:.2f} s in the queue", waited).c_str())));
        metrics_.add("tandem:deadline_misses_total", 1, {config_.tiers[q.tier].name, "queued"});
        count_request(config_.tiers[q.tier].name, 408);
        drop = true;
      }
    }
    const bool admit = !drop && !free_slots_.empty() && !stopping_;
    if (!drop && !admit) {
      ++it;
      continue;
    }
    if (drop && q.stream->cancelled()) count_request(config_.tiers[q.tier].name, 499);
    queued_tokens_ -= cost;
    --tier_queued_[q.tier];
    tier_queued_tokens_[q.tier] -= cost;
    if (admit) {
      auto s = std::make_unique<Sequence>();
      s->slot = free_slots_.back();
      free_slots_.pop_back();
      s->tier = q.tier;
      s->params = std::move(q.params);
      s->stream = std::move(q.stream);
      decode::DecodeOptions o;
      config_.tiers[s->tier].apply(o);
      o.seq = s->slot;
      o.max_new_tokens = s->params.max_tokens;
      o.n_ctx = n_ctx_;
      o.stop_tokens = stop_tokens_;
      o.sampling = s->params.sampling;
      try {
        s->strategy = decode::make_strategy(s->params.prompt, o);
      } catch (const Error& e) {  // parameters the strategy refuses: the client's to fix
        s->stream->push(Event::failure(
            ApiError{400, "invalid_request_error", "invalid_value", e.what(), "", 0}));
        count_request(config_.tiers[s->tier].name, 400);
        free_slots_.push_back(s->slot);
        it = queue_.erase(it);
        continue;
      }
      s->decoder = std::make_unique<TokenStreamDecoder>(*tokenizer_);
      s->admitted = now;
      s->last_token = now;
      metrics_.observe("tandem:queue_time_seconds", seconds_between(s->params.arrival, now));
      ++tier_running_[s->tier];
      s->inflight = s->params.max_tokens;
      tier_inflight_[s->tier] += s->inflight;
      running_.push_back(std::move(s));
    }
    it = queue_.erase(it);
  }
}

void Engine::notify() {
  signals_.fetch_add(1, std::memory_order_release);
  cv_.notify_all();
}

void Engine::spin_for_work() {
  const uint64_t seen = signals_.load(std::memory_order_acquire);
  const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(options_.idle_spin_s));
  while (signals_.load(std::memory_order_acquire) == seen && Clock::now() < until) {
    for (int i = 0; i < 64; ++i) cpu_relax();
    std::this_thread::yield();  // others runnable on this CPU go first
  }
}

void Engine::loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (running_.empty() && queue_.empty() && !stopping_ && !spun_since_work_) {
        spun_since_work_ = true;
        lock.unlock();
        spin_for_work();
        lock.lock();
      }
      if (running_.empty()) {
        // Wake for new work, or now and then to expire queued deadlines.
        cv_.wait_for(lock, std::chrono::milliseconds(50),
                     [&] { return stopping_ || !queue_.empty(); });
      }
      if (stopping_) break;
      admit_locked(Clock::now());
      update_gauges_locked();
      if (running_.empty()) continue;
    }
    spun_since_work_ = options_.idle_spin_s <= 0;
    try {
      step();
    } catch (const std::exception& e) {
      // A failed forward must not take the server down: answer the running requests and go on.
      spdlog::error("engine step failed: {}", e.what());
      for (auto& s : running_)
        if (!s->ended)
          fail_sequence(*s, ApiError{500, "server_error", "internal_error",
                                     fmt::format("the engine failed: {}", e.what()), "", 0});
      std::lock_guard<std::mutex> lock(mu_);
      running_.clear();
    }
  }
  // Stopping: end whatever still runs.
  for (auto& s : running_)
    if (!s->ended)
      fail_sequence(
          *s, ApiError{503, "unavailable", "unavailable", "the server is shutting down", "", 1});
  std::lock_guard<std::mutex> lock(mu_);
  running_.clear();
  update_gauges_locked();
}

// One iteration: every running sequence's next forward, batched per model.
void Engine::step() {
  const Clock::time_point now = Clock::now();
  // Cancellations and deadlines first: their slots are freed before any work.
  for (auto& s : running_) {
    if (s->stream->cancelled()) {
      count_request(config_.tiers[s->tier].name, 499);
      metrics_.add("tandem:cancelled_total", 1, {config_.tiers[s->tier].name});
      release(*s);
    } else if (s->params.deadline_s > 0 &&
               seconds_between(s->params.arrival, now) > s->params.deadline_s) {
      metrics_.add("tandem:deadline_misses_total", 1, {config_.tiers[s->tier].name, "running"});
      fail_sequence(*s, deadline_error(s->params, "still generating when it passed"));
    }
  }

  struct Entry {
    Sequence* seq;
    size_t n;
    bool final;
  };
  struct Group {
    std::vector<SequenceInput> inputs;
    std::vector<Entry> entries;
  };
  using Groups = std::map<std::pair<int, LogitsMode>, Group>;
  // Adds `n` tokens of s's pending request (from s->fed on) to its model's group.
  auto add = [&](Groups& groups, Sequence* s, int model, size_t n) {
    const decode::ForwardRequest& r = *s->pending;
    if (s->fed == 0) caches_[model].truncate(s->slot, r.keep);
    const bool final = s->fed + n == r.input.tokens.size();
    // Prompt chunks ride along with the decodes (one extra logits row is cheaper than a
    // second pass over the weights); only verifications need every row's logits.
    const LogitsMode mode =
        final && r.logits == LogitsMode::kAll ? LogitsMode::kAll : LogitsMode::kLast;
    Group& g = groups[{model, mode}];
    SequenceInput in;
    in.seq = s->slot;
    in.tokens.assign(r.input.tokens.begin() + s->fed, r.input.tokens.begin() + s->fed + n);
    if (!r.input.positions.empty())
      in.positions.assign(r.input.positions.begin() + s->fed,
                          r.input.positions.begin() + s->fed + n);
    g.inputs.push_back(std::move(in));
    g.entries.push_back({s, n, final});
  };
  ForwardOutput out;
  // One Model::forward per group; results go back to the strategies.
  auto run = [&](Groups& groups) {
    for (auto& [key, g] : groups) {
      ForwardOptions fo;
      fo.logits = key.second;
      int64_t tokens = 0, prefill = 0;
      for (const Entry& e : g.entries) {
        tokens += static_cast<int64_t>(e.n);
        if (e.seq->pending->prefill) prefill += static_cast<int64_t>(e.n);
      }
      Timer t;
      models_[key.first]->forward(g.inputs, caches_[key.first], fo, out, *model_pool_[key.first]);
      const double sec = t.seconds();
      metrics_.add("tandem:forward_tokens_total", static_cast<double>(tokens),
                   {config_.models[key.first].name});
      metrics_.add("tandem:forward_seconds_total", sec, {config_.models[key.first].name});
      metrics_.add("tandem:forward_calls_total", 1, {config_.models[key.first].name});
      metrics_.observe("tandem:batch_size", static_cast<double>(g.entries.size()));
      if (prefill > 0) {
        std::lock_guard<std::mutex> lock(mu_);
        double& e = ewma_prefill_s_tok_[key.first];
        e = 0.8 * e + 0.2 * sec / static_cast<double>(tokens);
        metrics_.set("tandem:prefill_seconds_per_token", e, {config_.models[key.first].name});
      }
      for (size_t i = 0; i < g.entries.size(); ++i) {
        Entry& e = g.entries[i];
        e.seq->fed += e.n;
        if (!e.final) continue;
        e.seq->pending.reset();
        e.seq->strategy->on_result(out, i);
      }
    }
  };
  std::vector<Sequence*> order;
  for (auto& s : running_)
    if (!s->ended) order.push_back(s.get());
  auto refill = [&] {
    for (Sequence* s : order)
      if (!s->pending) {
        s->pending = s->strategy->next_request();
        s->fed = 0;
      }
  };
  refill();

  // Draft sub-steps: the little-model drafts of speculative (spec/bild) sequences run back to
  // back, batched across sequences, until each of them waits for its big-model verification
  // (at most the longest draft of any tier), so that one iteration carries a speculative
  // sequence through a whole draft-verify cycle instead of one draft token per iteration (each
  // of which would also cost a big-model forward for the others). Ar sequences of a model that
  // is drafting ride along: one more token each per sub-step, in the same forward.
  for (int k = 0; k < max_draft_steps_; ++k) {
    Groups groups;
    std::vector<bool> drafting(models_.size(), false);
    auto waiting_decode = [](const Sequence* s) {
      return s->pending && !s->pending->prefill && s->fed == 0;
    };
    for (Sequence* s : order) {
      if (!waiting_decode(s) || tier_models_[s->tier][1] < 0 ||
          s->pending->model != decode::ModelRole::kLittle)
        continue;
      const int model = tier_models_[s->tier][1];
      drafting[model] = true;
      add(groups, s, model, s->pending->input.tokens.size());
    }
    if (groups.empty()) break;
    for (Sequence* s : order) {
      if (!waiting_decode(s) || tier_models_[s->tier][1] >= 0) continue;
      const int model = tier_models_[s->tier][0];
      if (drafting[model]) add(groups, s, model, s->pending->input.tokens.size());
    }
    run(groups);
    refill();
  }

  // Gather: decodes first, then prompt chunks within the remaining token budget.
  Groups groups;
  int64_t budget = options_.batch_tokens;
  bool prefill_moved = false;
  std::stable_sort(order.begin(), order.end(), [](const Sequence* a, const Sequence* b) {
    const auto left = [](const Sequence* s) {
      return s->pending ? s->pending->input.tokens.size() - s->fed : 0;
    };
    return left(a) < left(b);
  });
  for (Sequence* s : order) {
    if (!s->pending) continue;
    const decode::ForwardRequest& r = *s->pending;
    const int model = tier_models_[s->tier][r.model == decode::ModelRole::kBig ? 0 : 1];
    const size_t left = r.input.tokens.size() - s->fed;
    size_t n = std::min<size_t>(left, static_cast<size_t>(options_.prefill_chunk));
    if (r.prefill) {  // a prompt: within the budget, but one chunk always moves
      if (budget <= 0 && prefill_moved) continue;
      n = std::min<size_t>(n, static_cast<size_t>(std::max<int64_t>(budget, 16)));
      prefill_moved = true;
    }
    budget -= static_cast<int64_t>(n);
    add(groups, s, model, n);
  }
  run(groups);
  metrics_.add("tandem:engine_iterations_total", 1);

  for (auto& s : running_)
    if (!s->ended) emit(*s);

  std::lock_guard<std::mutex> lock(mu_);
  std::erase_if(running_, [](const std::unique_ptr<Sequence>& s) { return s->ended; });
  update_gauges_locked();
  // KV usage: tokens held by running sequences over the capacity of all slots.
  double used = 0;
  for (auto& s : running_) used += static_cast<double>(s->strategy->tokens().size());
  const double usage = used / (static_cast<double>(options_.slots) * static_cast<double>(n_ctx_));
  metrics_.set("tandem:kv_cache_usage_ratio", usage);
  metrics_.set("vllm:kv_cache_usage_perc", usage);
  metrics_.set("vllm:gpu_cache_usage_perc", usage);
}

// Streams the sequence's new text, holding back what might be the start of a stop string.
void Engine::emit(Sequence& s) {
  const std::vector<int32_t> fresh = s.strategy->take_new_tokens();
  const Clock::time_point now = Clock::now();
  if (!fresh.empty()) {
    const std::string& tier = config_.tiers[s.tier].name;
    if (!s.got_first_token) {
      s.got_first_token = true;
      metrics_.observe("tandem:time_to_first_token_seconds", seconds_between(s.params.arrival, now),
                       {tier});
    } else {
      metrics_.observe("tandem:time_per_output_token_seconds",
                       seconds_between(s.last_token, now) / static_cast<double>(fresh.size()),
                       {tier});
    }
    s.last_token = now;
    s.completion_tokens += static_cast<int64_t>(fresh.size());
    {  // The policy sees tokens still to generate (policy.h TierLoad), as the simulator does.
      const int64_t done = std::min<int64_t>(s.inflight, static_cast<int64_t>(fresh.size()));
      s.inflight -= done;
      std::lock_guard<std::mutex> lock(mu_);
      tier_inflight_[s.tier] -= done;
    }
    metrics_.add("tandem:generation_tokens_total", static_cast<double>(fresh.size()), {tier});
    for (int32_t t : fresh) s.text += s.decoder->push(t);
  }
  const bool done = s.strategy->done();
  if (done) s.text += s.decoder->finish();
  // The earliest stop string ends the text.
  size_t stop_at = std::string::npos;
  for (const std::string& stop : s.params.stop) stop_at = std::min(stop_at, s.text.find(stop));
  if (stop_at != std::string::npos) {
    s.text.resize(stop_at);
    if (!s.text.empty()) s.stream->push(Event::text_chunk(std::move(s.text)));
    s.text.clear();
    finish(s, FinishReason::kStop);
    return;
  }
  size_t hold = 0;
  if (!done)
    for (const std::string& stop : s.params.stop)
      for (size_t k = std::min(stop.size() - 1, s.text.size()); k > hold; --k)
        if (s.text.compare(s.text.size() - k, k, stop, 0, k) == 0) {
          hold = k;
          break;
        }
  if (s.text.size() > hold) {
    s.stream->push(Event::text_chunk(s.text.substr(0, s.text.size() - hold)));
    s.text.erase(0, s.text.size() - hold);
  }
  if (done) {
    const bool by_length = s.completion_tokens >= s.params.max_tokens ||
                           static_cast<int64_t>(s.strategy->tokens().size()) >= n_ctx_;
    finish(s, by_length ? FinishReason::kLength : FinishReason::kStop);
  }
}

void Engine::finish(Sequence& s, FinishReason reason) {
  Event e;
  e.kind = Event::Kind::kFinished;
  e.finish = reason;
  e.prompt_tokens = static_cast<int64_t>(s.params.prompt.size());
  e.completion_tokens = s.completion_tokens;
  e.stats = s.strategy->stats();
  s.stream->push(std::move(e));
  const std::string& tier = config_.tiers[s.tier].name;
  const Clock::time_point now = Clock::now();
  metrics_.observe("tandem:request_latency_seconds", seconds_between(s.params.arrival, now),
                   {tier});
  metrics_.add("tandem:prompt_tokens_total", static_cast<double>(s.params.prompt.size()), {tier});
  count_request(tier, 200);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ewma_request_s_ = 0.9 * ewma_request_s_ + 0.1 * seconds_between(s.admitted, now);
  }
  release(s);
}

void Engine::fail_sequence(Sequence& s, ApiError e) {
  count_request(config_.tiers[s.tier].name, e.status);
  s.stream->push(Event::failure(std::move(e)));
  release(s);
}

// Frees the slot (every model's cache for it) and records the decode statistics.
void Engine::release(Sequence& s) {
  if (s.ended) return;
  s.ended = true;
  const decode::DecodeStats& st = s.strategy->stats();
  const std::string& tier = config_.tiers[s.tier].name;
  metrics_.add("tandem:spec_drafted_tokens_total", static_cast<double>(st.drafted), {tier});
  metrics_.add("tandem:spec_accepted_tokens_total", static_cast<double>(st.accepted), {tier});
  metrics_.add("tandem:spec_fallbacks_total", static_cast<double>(st.fallbacks), {tier});
  metrics_.add("tandem:spec_rollbacks_total", static_cast<double>(st.rollbacks), {tier});
  for (KvCache& c : caches_) c.clear(s.slot);
  std::lock_guard<std::mutex> lock(mu_);
  free_slots_.push_back(s.slot);
  --tier_running_[s.tier];
  tier_inflight_[s.tier] -= s.inflight;
  s.inflight = 0;
  notify();
}

}  // namespace tandem::serve
