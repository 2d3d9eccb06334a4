// `tandem perplexity -m MODEL -f TEXT`: perplexity of a model over a text file.
//
// Protocol (so other tools can reproduce the figure): the file is tokenized
// without special tokens and cut into consecutive, non-overlapping windows of
// ctx-1 tokens; each window is evaluated in one forward pass after a BOS token
// (when the model has one), and every token of the window is scored given the
// tokens before it in its window. Perplexity = exp(mean negative
// log-likelihood over all scored tokens).
#include <fmt/format.h>

#include <cmath>

#include "cli/commands.h"
#include "cli/session.h"
#include "tandem/base/error.h"
#include "tandem/base/progress.h"
#include "tandem/base/timer.h"

namespace tandem::cli {

std::string read_text_file(const std::string& path);

void register_perplexity(CLI::App& app, CommonOptions& common) {
  auto* cmd = app.add_subcommand("perplexity", "Perplexity of a model over a text file");
  struct Opts {
    std::string model, file;
    int64_t ctx = 0;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("-m,--model", o->model, "GGUF model")->required();
  cmd->add_option("-f,--file", o->file, "Text file")->required();
  cmd->add_option("-c,--ctx-size", o->ctx, "Window size in tokens (default: min(model's, 512))");
  cmd->add_option("-t,--threads", common.threads, "Threads (default: all CPUs)");
  cmd->callback([o, &common] {
    Session s(o->model, common.resolved_threads(), o->ctx, 512);
    const int64_t window = s.n_ctx;
    const std::vector<int32_t> tokens = s.tokenizer->encode(read_text_file(o->file), false, false);
    const int32_t bos = s.tokenizer->bos();
    const int64_t span = bos >= 0 ? window - 1 : window;
    if (span < 2) fail("window of {} tokens is too small", window);
    if (static_cast<int64_t>(tokens.size()) < 2) fail("{}: not enough text to score", o->file);
    const int64_t V = s.model->config().n_vocab;
    double nll = 0;
    int64_t scored = 0;
    Timer timer;
    Progress progress("perplexity", static_cast<int64_t>(tokens.size()));
    for (size_t begin = 0; begin < tokens.size(); begin += span) {
      const size_t end = std::min(tokens.size(), begin + span);
      SequenceInput in{0, {}, {}};
      if (bos >= 0) in.tokens.push_back(bos);
      in.tokens.insert(in.tokens.end(), tokens.begin() + begin, tokens.begin() + end);
      if (in.tokens.size() < 2) break;
      s.cache.clear(0);
      ForwardOptions opt;
      opt.logits = LogitsMode::kAll;
      ForwardOutput out;
      s.model->forward(std::span<const SequenceInput>(&in, 1), s.cache, opt, out, *s.pool);
      for (size_t i = 0; i + 1 < in.tokens.size(); ++i) {
        const float* l = out.logits_of(0, static_cast<int64_t>(i));
        double mx = l[0];
        for (int64_t v = 1; v < V; ++v) mx = std::max<double>(mx, l[v]);
        double sum = 0;
        for (int64_t v = 0; v < V; ++v) sum += std::exp(l[v] - mx);
        nll -= l[in.tokens[i + 1]] - mx - std::log(sum);
        ++scored;
      }
      progress.update(static_cast<int64_t>(end));
    }
    progress.finish();
    fmt::print("perplexity {:.6f} over {} tokens ({} per window, {:.1f} tok/s)\n",
               std::exp(nll / scored), scored, window, scored / timer.seconds());
  });
}

}  // namespace tandem::cli
