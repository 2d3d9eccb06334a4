#include "tandem/decode/strategy.h"

#include <algorithm>
#include <limits>

#include "tandem/base/error.h"
#include "tandem/decode/autoregressive.h"
#include "tandem/decode/bild.h"
#include "tandem/decode/speculative.h"

namespace tandem::decode {

Mode parse_mode(std::string_view name) {
  if (name == "ar") return Mode::kAr;
  if (name == "spec") return Mode::kSpec;
  if (name == "bild") return Mode::kBild;
  fail("unknown decode mode '{}' (expected ar, spec or bild)", name);
}

std::string_view mode_name(Mode m) {
  switch (m) {
    case Mode::kAr:
      return "ar";
    case Mode::kSpec:
      return "spec";
    case Mode::kBild:
      return "bild";
  }
  return "?";
}

void DecodeOptions::validate() const {
  sampling.validate();
  if (max_new_tokens < 0) fail("max_new_tokens must be >= 0, got {}", max_new_tokens);
  if (n_ctx < 0) fail("n_ctx must be >= 0, got {}", n_ctx);
  if (mode != Mode::kAr && draft_max < 1) fail("--draft-max must be >= 1, got {}", draft_max);
  if (mode == Mode::kBild && !(alpha_fb >= 0.0f && alpha_fb <= 1.0f))
    fail("--fallback must be a probability in [0, 1], got {}", alpha_fb);
  if (mode == Mode::kBild && !(alpha_rb >= 0.0f)) fail("--rollback must be >= 0, got {}", alpha_rb);
}

Strategy::Strategy(std::vector<int32_t> prompt, DecodeOptions options)
    : options_(std::move(options)),
      tokens_(std::move(prompt)),
      prompt_len_(static_cast<int64_t>(tokens_.size())),
      sampler_(options_.sampling) {
  options_.validate();
  if (tokens_.empty()) fail("decoding needs at least one prompt token");
  if (options_.n_ctx > 0 && prompt_len_ > options_.n_ctx)
    fail("the prompt has {} tokens but the context holds {}", prompt_len_, options_.n_ctx);
  done_ = options_.max_new_tokens == 0 || (options_.n_ctx > 0 && prompt_len_ >= options_.n_ctx);
}

std::vector<int32_t> Strategy::take_new_tokens() {
  std::vector<int32_t> out(tokens_.begin() + prompt_len_ + emitted_, tokens_.end());
  emitted_ += out.size();
  return out;
}

bool Strategy::commit(int32_t token) {
  if (done_) return false;
  const auto& stop = options_.stop_tokens;
  if (std::find(stop.begin(), stop.end(), token) != stop.end()) {
    done_ = true;
    return false;
  }
  tokens_.push_back(token);
  ++stats_.generated;
  if (remaining() <= 0 ||
      (options_.n_ctx > 0 && static_cast<int64_t>(tokens_.size()) >= options_.n_ctx))
    done_ = true;
  return !done_;
}

int64_t Strategy::room() const {
  if (options_.n_ctx <= 0) return std::numeric_limits<int64_t>::max();
  return options_.n_ctx - static_cast<int64_t>(tokens_.size());
}

ForwardRequest Strategy::request(ModelRole m, int64_t keep, std::vector<int32_t> tokens,
                                 LogitsMode mode) {
  ForwardRequest r;
  r.model = m;
  r.keep = keep;
  r.input.seq = options_.seq;
  r.input.tokens = std::move(tokens);
  r.logits = mode;
  return r;
}

ForwardRequest Strategy::prefill_request(ModelRole m) {
  ForwardRequest r =
      request(m, 0, std::vector<int32_t>(tokens_.begin(), tokens_.begin() + prefill_length()),
              LogitsMode::kNone);
  r.prefill = true;
  return r;
}

void Strategy::count_forward(ModelRole m, int64_t fed) {
  if (m == ModelRole::kBig) {
    ++stats_.big_calls;
    stats_.big_tokens += fed;
  } else {
    ++stats_.little_calls;
    stats_.little_tokens += fed;
  }
}

std::unique_ptr<Strategy> make_strategy(std::vector<int32_t> prompt, const DecodeOptions& options) {
  switch (options.mode) {
    case Mode::kAr:
      return std::make_unique<Autoregressive>(std::move(prompt), options);
    case Mode::kSpec:
      return std::make_unique<Speculative>(std::move(prompt), options);
    case Mode::kBild:
      return std::make_unique<Bild>(std::move(prompt), options);
  }
  fail("unknown decode mode");
}

}  // namespace tandem::decode
