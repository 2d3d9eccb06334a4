// tandem::Error — the one error type of the project.
//
// Contract: every failure a user can cause (a malformed file, a bad flag, a
// missing tensor) is thrown as tandem::Error whose message says what is wrong
// and, where possible, what to do about it, e.g.
//   "model.gguf: tensor blk.3.attn_q.weight has 4096x4096 elements, expected 4096x1024"
// Programming errors (broken invariants) use TANDEM_CHECK, which also throws,
// so a bad input can never take the process down with an abort.
// Thread safety: plain value type.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace tandem {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace tandem

#define TANDEM_CHECK(cond, ...)                                         \
  do {                                                                  \
    if (!(cond))                                                        \
      ::tandem::fail("internal error at {}:{}: {}", __FILE__, __LINE__, \
                     ::fmt::format(__VA_ARGS__));                       \
  } while (0)
