#include "test_models.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "tandem/base/error.h"
#include "tandem/base/thread_pool.h"

namespace tandem::testing {
namespace fs = std::filesystem;

namespace {
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / fmt::format("tandem-test-{}", getpid());
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};
TempDir& temp() {
  static TempDir d;
  return d;
}
std::string source_dir() {
  const char* s = std::getenv("TANDEM_SOURCE_DIR");
  return s ? s : TANDEM_SOURCE_DIR;
}
}  // namespace

std::string temp_dir() {
  return temp().path.string();
}

std::string write_model(const SynthSpec& spec, const std::string& file_name) {
  const std::string path = (temp().path / file_name).string();
  if (!fs::exists(path)) {
    ThreadPool pool(2);
    synth_model(spec, path, pool);
  }
  return path;
}

SynthSpec tiny_spec() {
  SynthSpec s;
  s.n_vocab = 256;
  s.dim = 64;
  s.n_layer = 2;
  s.n_head = 4;
  s.n_head_kv = 4;
  s.ffn_dim = 128;
  s.n_ctx = 128;
  return s;
}

bool reference_available(std::string* why) {
  static int state = -1;
  if (state < 0)
    state = std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0 ? 1 : 0;
  if (!state && why)
    *why = "Debian's python3-numpy (/usr/bin/python3) is not installed; run scripts/bootstrap";
  return state == 1;
}

std::vector<double> reference_forward(const std::string& model, const std::vector<int32_t>& tokens,
                                      int hidden_layer) {
  static int counter = 0;
  const std::string out = (temp().path / fmt::format("ref-{}.bin", counter++)).string();
  std::string cmd =
      fmt::format("/usr/bin/python3 {}/tests/reference/llama_ref.py {} --tokens {} --out {}",
                  source_dir(), model, fmt::join(tokens, ","), out);
  if (hidden_layer >= 0) cmd += fmt::format(" --hidden-layer {}", hidden_layer);
  if (std::system(cmd.c_str()) != 0) fail("reference failed: {}", cmd);
  std::ifstream f(out, std::ios::binary | std::ios::ate);
  const auto bytes = static_cast<size_t>(f.tellg());
  std::vector<double> v(bytes / sizeof(double));
  f.seekg(0);
  f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(bytes));
  return v;
}

}  // namespace tandem::testing
