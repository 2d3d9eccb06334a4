#include "tandem/base/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace tandem {

Progress::Progress(std::string label, int64_t total)
    : label_(std::move(label)), total_(total), tty_(isatty(STDERR_FILENO) != 0) {}

Progress::~Progress() {
  finish();
}

void Progress::update(int64_t done) {
  if (!tty_) return;
  double t = timer_.seconds();
  if (done < total_ && t - last_draw_ < 0.1) return;
  last_draw_ = t;
  int pct = total_ > 0 ? static_cast<int>(100 * done / total_) : 100;
  fmt::print(stderr, "\r{}: {:3d}% ({}/{}) {:.1f}s", label_, pct, done, total_, t);
  std::fflush(stderr);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (tty_) fmt::print(stderr, "\r\033[K");
  fmt::print(stderr, "{}: done in {:.1f}s\n", label_, timer_.seconds());
}

}  // namespace tandem
