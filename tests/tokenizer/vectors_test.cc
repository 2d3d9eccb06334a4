// The reference token ids for the shared ggml-vocab-*.gguf files: every string
// of `<vocab>.gguf.inp` must encode to the ids on the same line of `.out`.
// The reference encoded without BOS/EOS and without special-token parsing.
#include <fmt/format.h>

#include "test_util.h"

namespace tandem {
namespace {

// Strings are separated by "\n__ggml_vocab_test__\n"; the file ends with one
// such separator, so the empty remainder after it is not a test string.
std::vector<std::string> read_inputs(const std::filesystem::path& p) {
  std::string all = testing::read_file(p);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> r;
  size_t pos = 0;
  while (true) {
    size_t at = all.find(sep, pos);
    if (at == std::string::npos) {
      if (pos < all.size()) r.push_back(all.substr(pos));
      break;
    }
    r.push_back(all.substr(pos, at - pos));
    pos = at + sep.size();
  }
  return r;
}

std::vector<std::vector<int32_t>> read_outputs(const std::filesystem::path& p) {
  std::stringstream in(testing::read_file(p));
  std::vector<std::vector<int32_t>> r;
  std::string line;
  while (std::getline(in, line)) {
    std::stringstream ls(line);
    std::vector<int32_t> ids;
    int32_t id;
    while (ls >> id) ids.push_back(id);
    r.push_back(std::move(ids));
  }
  return r;
}

std::string show(const Tokenizer& t, const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += fmt::format(" {}'{}'", id, t.token_text(id));
  return s;
}

class Vectors : public ::testing::TestWithParam<std::string> {};

TEST_P(Vectors, MatchReference) {
  TANDEM_LOAD_VOCAB_OR_SKIP(tok, GetParam());
  auto base = testing::vocab_path(GetParam());
  auto inputs = read_inputs(base.string() + ".inp");
  auto outputs = read_outputs(base.string() + ".out");
  ASSERT_EQ(inputs.size(), outputs.size());
  ASSERT_GT(inputs.size(), 0u);
  size_t pass = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto got = tok->encode(inputs[i], /*add_special=*/false, /*parse_special=*/false);
    if (got == outputs[i]) {
      ++pass;
    } else {
      ADD_FAILURE() << GetParam() << " string " << i << " '" << inputs[i] << "'\n  expected"
                    << show(*tok, outputs[i]) << "\n  got     " << show(*tok, got);
    }
  }
  std::cout << "[ vectors  ] " << GetParam() << ": " << pass << "/" << inputs.size()
            << " strings match\n";
}

INSTANTIATE_TEST_SUITE_P(Vocabs, Vectors, ::testing::ValuesIn(testing::vocab_names()),
                         testing::vocab_test_name);

}  // namespace
}  // namespace tandem
