// Measured DRAM read bandwidth, the roofline that decode (matvec) runs against.
//
// Contract: allocates `bytes` (rounded down to a multiple of 4 KiB per thread),
// writes it once (first touch by the threads that read it), then sums it with
// all pool threads a few times and returns the best pass in bytes/s. Passes
// alternate between a plain streaming loop and one with software prefetch a few
// KiB ahead (the decode kernels prefetch; on some CPUs that reads faster than the
// hardware prefetcher alone, and the roofline must be the fastest read we know).
// The buffer is freed before returning. Takes ~2 s for 1 GiB.
// Thread safety: uses the pool; one call at a time per pool.
#pragma once

#include <cstddef>
#include <span>

#include "tandem/base/thread_pool.h"

namespace tandem::kernels {

double measure_read_bandwidth(ThreadPool& pool, size_t bytes = size_t{1} << 30);
// The same probe over a caller's buffer (its first bytes / threads / 4 KiB * 4 KiB
// per thread; overwritten), e.g. memory of a chosen page size.
double measure_read_bandwidth(ThreadPool& pool, std::span<unsigned char> buffer);

// Sums n floats (a read pass the compiler cannot drop); exposed for the bench.
// With `prefetch`, also prefetches the data 4 KiB ahead.
float read_pass(const float* p, size_t n, bool prefetch = false);

}  // namespace tandem::kernels
