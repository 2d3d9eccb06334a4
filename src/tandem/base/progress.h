// Progress — a one-line progress indicator on stderr for long work (loading,
// synthesis, benchmarks). Redraws at most ~10 times a second; prints nothing
// when stderr is not a terminal except the final line. Not thread-safe: call
// update() from one thread.
#pragma once

#include <cstdint>
#include <string>

#include "tandem/base/timer.h"

namespace tandem {

class Progress {
 public:
  Progress(std::string label, int64_t total);
  ~Progress();
  void update(int64_t done);
  void finish();

 private:
  std::string label_;
  int64_t total_;
  Timer timer_;
  double last_draw_ = -1.0;
  bool tty_;
  bool finished_ = false;
};

}  // namespace tandem
