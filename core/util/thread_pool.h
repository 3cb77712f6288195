// A fixed pool of worker threads that runs one parallel loop at a time (the
// forward pass is a sequence of such loops: matrix rows, tokens, heads).
//
// Tasks are claimed from a shared counter, so which thread runs a task varies
// from run to run; callers make every task write its own outputs with the
// same code, which keeps results bit-identical whatever the thread count.
//
// Idle workers spin briefly (a decode step issues hundreds of loops a few
// microseconds apart, and a futex wake-up costs more than that), then sleep on
// a condition variable so an idle pool never burns a core or stalls a page.
// Without thread support (Emscripten without -pthread, or KVLITE_THREADS=OFF)
// the pool has size 1 and runs everything on the caller's thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace kvlite {

class ThreadPool {
 public:
  // n_threads counts the calling thread; values below 1 mean 1.
  explicit ThreadPool(int32_t n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Threads that take part in a run, the caller included.
  int32_t size() const { return int32_t(workers_.size()) + 1; }
  // Whether this build can start threads at all.
  static bool threads_supported();

  // Calls fn(task, thread) for every task in [0, n_tasks) and returns when all
  // are done; thread is in [0, size()) and may index per-thread scratch.
  template <class Fn>
  void run(int64_t n_tasks, Fn&& fn) {
    auto call = [](void* ctx, int64_t task, int32_t thread) { (*static_cast<Fn*>(ctx))(task, thread); };
    run_tasks(n_tasks, call, &fn);
  }

 private:
  using TaskFn = void (*)(void* ctx, int64_t task, int32_t thread);
  void run_tasks(int64_t n_tasks, TaskFn fn, void* ctx);
  void worker_loop(int32_t thread);
  void work_on_job(uint32_t generation, int32_t thread);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  // The current job. Its fields are written before claim_ and generation_
  // publish it, and stay put until all its tasks are done.
  TaskFn job_fn_ = nullptr;
  void* job_ctx_ = nullptr;
  std::atomic<int64_t> job_tasks_{0};  // atomic: a late worker may read it as a job is replaced
  // Job generation (high 32 bits) and next unclaimed task (low 32 bits) in one
  // word: a worker that wakes late cannot claim a task of a newer job by
  // mistake, and the caller never waits for a worker that has no task.
  std::atomic<uint64_t> claim_{0};
  std::atomic<int64_t> tasks_done_{0};
  std::atomic<uint32_t> generation_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace kvlite
