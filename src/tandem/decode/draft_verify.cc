#include "tandem/decode/draft_verify.h"

#include <algorithm>

#include "tandem/base/error.h"

namespace tandem::decode {

DraftVerify::DraftVerify(std::vector<int32_t> prompt, const DecodeOptions& options)
    : Strategy(std::move(prompt), options) {}

std::vector<int32_t> DraftVerify::context() const {
  std::vector<int32_t> c = tokens_;
  c.insert(c.end(), drafts_.begin(), drafts_.end());
  return c;
}

size_t DraftVerify::draft_limit() const {
  // Drafting past the last token still wanted, or past the context, is waste.
  const int64_t lim = std::min<int64_t>({options_.draft_max, remaining() - 1, room()});
  return static_cast<size_t>(std::max<int64_t>(lim, 0));
}

std::optional<ForwardRequest> DraftVerify::next_request() {
  if (done_) return std::nullopt;
  // Prefill phase: the big model, then the little one (big_valid_ and
  // little_valid_ never fall back to 0 once it is over).
  if (prefill_length() > 0 && (big_valid_ == 0 || little_valid_ == 0)) {
    pending_ = big_valid_ == 0 ? ModelRole::kBig : ModelRole::kLittle;
    pending_prefill_ = true;
    return prefill_request(pending_);
  }
  pending_prefill_ = false;
  if (!verifying_ && drafts_.size() >= draft_limit()) verifying_ = true;
  const std::vector<int32_t> ctx = context();
  pending_ = verifying_ ? ModelRole::kBig : ModelRole::kLittle;
  const int64_t keep = verifying_ ? big_valid_ : little_valid_;
  TANDEM_CHECK(keep < static_cast<int64_t>(ctx.size()), "nothing to feed ({} of {})", keep,
               ctx.size());
  return request(pending_, keep, std::vector<int32_t>(ctx.begin() + keep, ctx.end()),
                 verifying_ ? LogitsMode::kAll : LogitsMode::kLast);
}

void DraftVerify::on_result(const ForwardOutput& out, size_t entry) {
  if (pending_prefill_) {
    count_forward(pending_, prefill_length());
    (pending_ == ModelRole::kBig ? big_valid_ : little_valid_) = prefill_length();
    pending_prefill_ = false;
    return;
  }
  if (pending_ == ModelRole::kLittle)
    on_draft(out, entry);
  else
    on_verify(out, entry);
}

int32_t DraftVerify::big_token(std::span<const float> logits, std::span<const int32_t> history) {
  const Distribution d = sampler_.distribution(logits, history);
  return options_.sampling.greedy() ? d.front().first : draw(d, sampler_.rng());
}

void DraftVerify::on_draft(const ForwardOutput& out, size_t entry) {
  const std::vector<int32_t> ctx = context();
  count_forward(ModelRole::kLittle, static_cast<int64_t>(ctx.size()) - little_valid_);
  little_valid_ = static_cast<int64_t>(ctx.size());
  const std::optional<int32_t> t =
      propose(std::span<const float>(out.logits_of(entry), out.n_vocab), ctx);
  if (!t) {
    ++stats_.fallbacks;
    verifying_ = true;
    return;
  }
  drafts_.push_back(*t);
  if (drafts_.size() >= draft_limit()) verifying_ = true;
}

void DraftVerify::on_verify(const ForwardOutput& out, size_t entry) {
  const std::vector<int32_t> ctx = context();
  const int64_t c = static_cast<int64_t>(tokens_.size());  // accepted before this pass
  const size_t k = drafts_.size();
  count_forward(ModelRole::kBig, static_cast<int64_t>(ctx.size()) - big_valid_);
  ++stats_.rounds;
  stats_.drafted += static_cast<int64_t>(k);

  // Row of the logits that predict context position c + i.
  auto row = [&](size_t i) {
    return std::span<const float>(
        out.logits_of(entry, c + static_cast<int64_t>(i) - 1 - big_valid_), out.n_vocab);
  };
  size_t kept = 0;
  bool open = true;  // commit() still takes tokens
  for (size_t i = 0; i < k && open; ++i) {
    const std::span<const int32_t> history(ctx.data(), c + i);
    const Verdict v = judge(i, row(i), history);
    if (v.accept) {
      ++kept;
      open = commit(drafts_[i]);
      continue;
    }
    ++stats_.rollbacks;
    commit(v.replacement);
    open = false;
  }
  if (open && kept == k) commit(big_token(row(k), std::span<const int32_t>(ctx.data(), c + k)));
  stats_.accepted += static_cast<int64_t>(kept);

  // The caches hold ctx[0, c + k) (big) and ctx[0, little_valid_) (little);
  // only ctx[0, c + kept) is on the accepted path.
  big_valid_ = c + static_cast<int64_t>(kept);
  little_valid_ = std::min(little_valid_, big_valid_);
  drafts_.clear();
  verifying_ = false;
}

}  // namespace tandem::decode
