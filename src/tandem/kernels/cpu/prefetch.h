// prefetch_l2, prefetch_l1: software prefetches the compiler cannot delete.
//
// Why not _mm_prefetch / __builtin_prefetch: GCC 12 treats the builtin as free of
// side effects, so a loop whose body is only prefetches and whose trip count is
// not a compile-time constant is removable under C++'s forward-progress rules,
// and it is removed. That silently took out the packed kernels' record prefetch
// (packed Q8_0 decode fell from 90 % to 64 % of the roofline on the Xeon host)
// and the single-row kernels' prefetch (the K-quants). An asm volatile statement
// is never deleted. No memory is read: prefetches do not fault, so addresses
// past the end of a matrix are fine.
//
// Thread safety: stateless.
#pragma once

namespace tandem::kernels {

// Prefetches the cache line holding `p` into L2 (x86 prefetcht1).
inline void prefetch_l2(const void* p) {
#if defined(__x86_64__) || defined(__i386__)
  asm volatile("prefetcht1 %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p, 0, 2);
#endif
}

// Prefetches the cache line holding `p` into L1 (x86 prefetcht0).
inline void prefetch_l1(const void* p) {
#if defined(__x86_64__) || defined(__i386__)
  asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p, 0, 3);
#endif
}

}  // namespace tandem::kernels
