// cpu_relax() — the body of a spin-wait loop: the x86 PAUSE hint (frees the
// core's resources for a sibling hyperthread and avoids the memory-order
// flush when the awaited value changes), elsewhere a yield to the scheduler.
// Thread safety: stateless.
#pragma once

#if defined(__x86_64__)
#include <immintrin.h>
#else
#include <thread>
#endif

namespace tandem {

inline void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

}  // namespace tandem
