// ThreadPool — persistent workers for data-parallel operators.
//
// Contract: a pool of `n_threads` threads *including the caller*: run() executes
// fn(thread_index, n_threads) on the calling thread (index 0) and on n_threads-1
// workers, and returns when all have finished. Workers spin briefly on an atomic
// generation counter before sleeping on it (C++20 atomic wait, a futex), so the
// back-to-back operators of a forward pass cost well under a microsecond each to
// dispatch while an idle pool uses no CPU.
// parallel_for() splits [0, n) into chunks handed out through an atomic counter
// (dynamic load balance, no per-chunk locking); a single chunk runs inline on
// the caller without waking the workers.
// Thread safety: run()/parallel_for() may be called from one thread at a time;
// fn must not call back into the same pool. Exceptions thrown by fn on any thread
// are captured and the first is rethrown on the caller.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tandem {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  void run(const std::function<void(int thread_index, int n_threads)>& fn);

  // fn(begin, end) over chunks of at most `grain` items; grain <= 0 picks one.
  void parallel_for(int64_t n, int64_t grain,
                    const std::function<void(int64_t begin, int64_t end)>& fn);

  // Threads to use when the user gave none: the number of online CPUs.
  static int default_threads();

 private:
  void worker_loop(int index);
  void execute(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

}  // namespace tandem
