// spec greedy and bild with alpha_rb = 0 reproduce the big model's greedy
// output token for token on held-out prompts of the demo pair.
#include <gtest/gtest.h>

#include "decode/decode_test_util.h"
#include "tandem/tokenizer/tokenizer.h"

namespace tandem::testing {
namespace {

using decode::DecodeOptions;
using decode::Mode;

TEST(DecodeGreedy, SpecAndBildRollbackZeroEqualBigGreedy) {
  auto big = Model::load(source_path("models/big-q8_0.gguf"));
  auto little = Model::load(source_path("models/little-aligned-q8_0.gguf"));
  auto tok = Tokenizer::from_gguf(big->file());
  const int per_domain = 1;
  const int n_new = kSanitized ? 16 : 32;
  int64_t total_drafted = 0, total_rejected = 0;
  for (const char* domain : {"bible", "fortunes", "jargon", "perldoc", "pydoc"}) {
    if (kSanitized && std::string(domain) != "bible" && std::string(domain) != "pydoc") continue;
    for (const std::string& text : held_out_prompts(domain, per_domain)) {
      const std::vector<int32_t> prompt = tok->encode(text, true, false);
      DecodeOptions o;
      o.max_new_tokens = n_new;
      o.mode = Mode::kAr;
      auto ar = run_fresh(*big, nullptr, prompt, o);
      const std::vector<int32_t> want(ar->generated().begin(), ar->generated().end());
      ASSERT_EQ(static_cast<int>(want.size()), n_new);

      for (int draft_max : {2, 5}) {
        o.mode = Mode::kSpec;
        o.draft_max = draft_max;
        auto spec = run_fresh(*big, little.get(), prompt, o);
        EXPECT_EQ(std::vector<int32_t>(spec->generated().begin(), spec->generated().end()), want)
            << domain << " spec draft_max " << draft_max;
        total_drafted += spec->stats().drafted;
        total_rejected += spec->stats().rollbacks;
      }
      o.mode = Mode::kBild;
      o.draft_max = 10;
      o.alpha_rb = 0.0f;
      for (float fb : {0.0f, 0.6f}) {
        o.alpha_fb = fb;
        auto bild = run_fresh(*big, little.get(), prompt, o);
        EXPECT_EQ(std::vector<int32_t>(bild->generated().begin(), bild->generated().end()), want)
            << domain << " bild alpha_fb " << fb;
      }
    }
  }
  // The check means something only when drafts were both kept and rejected.
  EXPECT_GT(total_drafted, 0);
  EXPECT_GT(total_rejected, 0);
}

}  // namespace
}  // namespace tandem::testing
