#include "tandem/base/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <numeric>
#include <stdexcept>
#include <vector>

namespace tandem {
namespace {

TEST(ThreadPool, RunCallsEveryThreadOnceWithItsIndex) {
  for (int n : {1, 2, 3, 5}) {
    ThreadPool pool(n);
    std::vector<std::atomic<int>> hits(n);
    for (int rep = 0; rep < 200; ++rep) {
      pool.run([&](int i, int total) {
        ASSERT_EQ(total, n);
        hits[i].fetch_add(1);
      });
    }
    for (int i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 200) << "thread " << i;
  }
}

TEST(ThreadPool, ParallelForCoversEveryIndexExactlyOnce) {
  ThreadPool pool(3);
  for (int64_t n : {0, 1, 7, 1000, 4099}) {
    for (int64_t grain : {0, 1, 16, 5000}) {
      std::vector<std::atomic<int>> seen(n);
      pool.parallel_for(n, grain, [&](int64_t b, int64_t e) {
        ASSERT_LE(0, b);
        ASSERT_LT(b, e);
        ASSERT_LE(e, n);
        for (int64_t i = b; i < e; ++i) seen[i].fetch_add(1);
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(seen[i].load(), 1) << "n=" << n << " i=" << i;
    }
  }
}

TEST(ThreadPool, ExceptionOnWorkerReachesCallerAndPoolStaysUsable) {
  ThreadPool pool(2);
  EXPECT_THROW(pool.run([](int i, int) {
    if (i == 1) throw std::runtime_error("boom");
  }),
               std::runtime_error);
  std::atomic<int> count{0};
  pool.run([&](int, int) { count++; });
  EXPECT_EQ(count.load(), 2);
}

TEST(ThreadPool, ResultsVisibleToCallerAfterRun) {
  ThreadPool pool(4);
  std::vector<int64_t> data(10000);
  pool.parallel_for(10000, 64, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) data[i] = i * i;
  });
  int64_t sum = std::accumulate(data.begin(), data.end(), int64_t{0});
  int64_t expect = 0;
  for (int64_t i = 0; i < 10000; ++i) expect += i * i;
  EXPECT_EQ(sum, expect);
}

}  // namespace
}  // namespace tandem
