// `tandem run`: generate text from a prompt, streamed as it is produced, ending
// with prompt and generation speeds. `--chat` wraps the prompt in the model's
// chat template. `-d LITTLE --mode spec|bild` decodes with a little draft model
// (see tandem/decode/) and ends with the strategy's statistics.
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "cli/session.h"
#include "tandem/base/error.h"
#include "tandem/base/timer.h"
#include "tandem/decode/driver.h"
#include "tandem/sampling/sampler.h"
#include "tandem/tokenizer/chat_template.h"
#include "tandem/tokenizer/stream_decoder.h"

namespace tandem::cli {

void add_sampling_options(CLI::App* cmd, SamplingParams& s) {
  cmd->add_option("--temp", s.temperature, "Temperature (0 = greedy)")->default_val(0.0f);
  cmd->add_option("--top-k", s.top_k, "Keep the k most likely tokens (0 = off)")->default_val(0);
  cmd->add_option("--top-p", s.top_p, "Nucleus sampling mass (1 = off)")->default_val(1.0f);
  cmd->add_option("--min-p", s.min_p, "Drop tokens below min-p x top probability")
      ->default_val(0.0f);
  cmd->add_option("--repeat-penalty", s.repeat_penalty, "Repetition penalty (1 = off)")
      ->default_val(1.0f);
  cmd->add_option("--repeat-last-n", s.repeat_last_n, "Tokens the penalty looks back over")
      ->default_val(64);
  cmd->add_option("--seed", s.seed, "Random seed (same seed, same output)")->default_val(0);
}

std::string read_text_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail("cannot read '{}'", path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void add_decode_options(CLI::App* cmd, std::string& draft, std::string& mode, int& draft_max,
                        float& fallback, float& rollback) {
  cmd->add_option("-d,--draft", draft, "Little (draft) GGUF model for --mode spec|bild");
  cmd->add_option("--mode", mode, "Decoding: ar (one model), spec (lossless), bild")
      ->default_val("ar")
      ->check(CLI::IsMember({"ar", "spec", "bild"}));
  cmd->add_option("--draft-max", draft_max,
                  "spec: drafts per verification; bild: most little steps before the big model")
      ->default_val(4)
      ->check(CLI::Range(1, 64));
  cmd->add_option("--fallback", fallback,
                  "bild: hand over to the big model when little's top probability < this")
      ->default_val(0.6f);
  cmd->add_option("--rollback", rollback,
                  "bild: roll back a draft whose -log p_big exceeds this (0 = exact greedy spec)")
      ->default_val(5.0f);
}

void register_run(CLI::App& app, CommonOptions& common) {
  auto* cmd = app.add_subcommand("run", "Generate text from a prompt");
  struct Opts {
    std::string model, draft, mode = "ar", prompt, file, chat_template, system;
    int draft_max = 4;
    float fallback = 0.6f, rollback = 5.0f;
    int n = 128;
    int64_t ctx = 0;
    bool chat = false;
    SamplingParams sampling;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("-m,--model", o->model, "GGUF model")->required();
  cmd->add_option("-p,--prompt", o->prompt, "Prompt text");
  cmd->add_option("-f,--file", o->file, "Read the prompt from this file");
  cmd->add_option("-n,--n-predict", o->n, "Tokens to generate")
      ->default_val(128)
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("-c,--ctx-size", o->ctx, "Context size (default: the model's)");
  cmd->add_flag("--chat", o->chat, "Apply the model's chat template to the prompt");
  cmd->add_option("--chat-template", o->chat_template,
                  "Chat template name to use instead of the model's (" +
                      std::string(chat_template_names()) + ")");
  cmd->add_option("--system", o->system, "System message for --chat");
  add_sampling_options(cmd, o->sampling);
  add_decode_options(cmd, o->draft, o->mode, o->draft_max, o->fallback, o->rollback);
  cmd->add_option("-t,--threads", common.threads, "Threads (default: all CPUs)");
  cmd->callback([o, &common] {
    if (!o->file.empty()) o->prompt = read_text_file(o->file);
    Session s(o->model, common.resolved_threads(), o->ctx);
    std::string text = o->prompt;
    bool parse_special = false;
    if (o->chat) {
      const ChatTemplate tmpl = o->chat_template.empty()
                                    ? ChatTemplate::detect(s.tokenizer->chat_template())
                                    : ChatTemplate::named(o->chat_template);
      std::vector<ChatMessage> msgs;
      if (!o->system.empty()) msgs.push_back({"system", o->system});
      msgs.push_back({"user", o->prompt});
      text = tmpl.apply(msgs, true);
      parse_special = true;
    }
    std::vector<int32_t> prompt = s.tokenizer->encode(text, true, parse_special);
    if (prompt.empty()) fail("the prompt is empty and the model adds no BOS token; give -p TEXT");
    s.check_fits(static_cast<int64_t>(prompt.size()), o->n);

    TokenStreamDecoder stream(*s.tokenizer);
    // Echo the prompt as the model sees it (without control tokens).
    for (int32_t t : prompt) fmt::print("{}", stream.push(t));
    std::fflush(stdout);

    decode::DecodeOptions dopt;
    dopt.mode = decode::parse_mode(o->mode);
    dopt.max_new_tokens = o->n;
    dopt.n_ctx = s.n_ctx;
    dopt.sampling = o->sampling;
    dopt.draft_max = o->draft_max;
    dopt.alpha_fb = o->fallback;
    dopt.alpha_rb = o->rollback;
    for (int32_t t = 0; t < s.model->config().n_vocab; ++t)
      if (s.tokenizer->is_end_of_generation(t)) dopt.stop_tokens.push_back(t);
    if (dopt.mode != decode::Mode::kAr && o->draft.empty())
      fail("--mode {} needs a little draft model: give -d LITTLE.gguf", o->mode);
    DraftModel little(o->draft, *s.model, s.n_ctx);
    decode::Driver driver(*s.model, s.cache, little.model.get(), little.cache.get(), *s.pool);
    auto strategy = decode::make_strategy(prompt, dopt);

    // Prefill phase: the requests marked `prefill` (prompt[0, n-1) through each
    // model the strategy uses); the generation phase starts with the last
    // prompt token, so it holds every generated token.
    Timer pp_timer;
    for (auto r = strategy->next_request(); r && r->prefill; r = strategy->next_request())
      driver.step(*strategy);
    const double pp_seconds = pp_timer.seconds();
    auto print = [&](std::span<const int32_t> ids) {
      for (int32_t t : ids) fmt::print("{}", stream.push(t));
      std::fflush(stdout);
    };
    Timer gen_timer;
    driver.run(*strategy, print);
    fmt::print("{}\n", stream.finish());
    const double gen_seconds = gen_timer.seconds();
    const int64_t generated = strategy->stats().generated;
    fmt::print(
        stderr,
        "\nprefill: {} tokens in {:.2f} s ({:.2f} tok/s) | generation: {} tokens in {:.2f} s "
        "({:.2f} tok/s) | end to end {:.2f} tok/s\n",
        prompt.size(), pp_seconds, prompt.size() / std::max(pp_seconds, 1e-9), generated,
        gen_seconds, generated / std::max(gen_seconds, 1e-9),
        generated / std::max(pp_seconds + gen_seconds, 1e-9));
    if (dopt.mode != decode::Mode::kAr || !o->draft.empty())
      fmt::print(
          stderr, "{}: {}\nbig model {:.2f} s in {} calls | little model {:.2f} s in {} calls\n",
          decode::mode_name(dopt.mode), strategy->stats().summary(),
          driver.seconds(decode::ModelRole::kBig), driver.calls(decode::ModelRole::kBig),
          driver.seconds(decode::ModelRole::kLittle), driver.calls(decode::ModelRole::kLittle));
  });
}

void register_tokenize(CLI::App& app, CommonOptions& common) {
  auto* cmd = app.add_subcommand("tokenize", "Print token ids for each line of standard input");
  struct Opts {
    std::string model;
    bool add_special = false, parse_special = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("-m,--model", o->model, "GGUF model or vocabulary")->required();
  cmd->add_flag("--add-special", o->add_special, "Add BOS/EOS as the model's metadata says");
  cmd->add_flag("--parse-special", o->parse_special, "Turn special-token text into its token");
  cmd->add_option("-t,--threads", common.threads, "Threads (unused here)");
  cmd->callback([o] {
    auto file = gguf::File::open(o->model);
    auto tok = Tokenizer::from_gguf(*file);
    std::string line;
    char buf[1 << 16];
    while (std::fgets(buf, sizeof(buf), stdin)) {
      line += buf;
      if (line.back() != '\n' && !std::feof(stdin)) continue;
      if (!line.empty() && line.back() == '\n') line.pop_back();
      auto ids = tok->encode(line, o->add_special, o->parse_special);
      fmt::print("{}\n", fmt::join(ids, " "));
      line.clear();
    }
  });
}

}  // namespace tandem::cli
