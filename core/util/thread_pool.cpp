#include "util/thread_pool.h"

#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace kvlite {

namespace {

// How long an idle thread polls before it sleeps. Long enough to bridge the
// gap between two matmuls of a decode step, short enough that a pool between
// tokens gives its cores back almost at once.
constexpr auto kSpinBudget = std::chrono::microseconds(100);

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();  // lets the sibling hyper-thread run and saves power while polling
#endif
}

// Polls `ready` for up to kSpinBudget; true when it became true. It yields
// now and then: when there are more runnable threads than cores (a busy
// machine), a poller must not keep the core from the thread it waits for.
template <class Ready>
bool spin_until(Ready ready) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 1;; ++i) {
    if (ready()) return true;
    cpu_relax();
    if (i % 64 == 0) {
      if (std::chrono::steady_clock::now() - start > kSpinBudget) return false;
      std::this_thread::yield();
    }
  }
}

constexpr uint64_t pack(uint32_t generation, uint32_t task) { return (uint64_t(generation) << 32) | task; }
// A task index no job reaches: the claim word while a job is being set up.
constexpr uint32_t kClosed = 0xffffffffu;

}  // namespace

bool ThreadPool::threads_supported() {
#if defined(KVLITE_NO_THREADS) || (defined(__EMSCRIPTEN__) && !defined(__EMSCRIPTEN_PTHREADS__))
  return false;
#else
  return true;
#endif
}

ThreadPool::ThreadPool(int32_t n_threads) {
  if (!threads_supported() || n_threads <= 1) return;
  workers_.reserve(size_t(n_threads - 1));
  for (int32_t t = 1; t < n_threads; ++t) workers_.emplace_back([this, t] { worker_loop(t); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_.store(true, std::memory_order_release);
  }
  wake_.notify_all();
  for (std::thread& w : workers_) w.join();
}

// Claims and runs tasks of job `generation` until none is left. A claim is a
// compare-and-swap that also checks the generation, so the job's fields are
// only read while one of its tasks is held (and the job cannot be replaced).
void ThreadPool::work_on_job(uint32_t generation, int32_t thread) {
  uint64_t current = claim_.load(std::memory_order_acquire);
  for (;;) {
    if (uint32_t(current >> 32) != generation) return;
    const uint32_t task = uint32_t(current);
    const int64_t n_tasks = job_tasks_.load(std::memory_order_acquire);
    if (int64_t(task) >= n_tasks) return;
    if (!claim_.compare_exchange_weak(current, current + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
      continue;
    }
    job_fn_(job_ctx_, int64_t(task), thread);
    if (tasks_done_.fetch_add(1, std::memory_order_acq_rel) + 1 == n_tasks) {
      std::lock_guard<std::mutex> lock(mutex_);
      done_.notify_one();
    }
    current = claim_.load(std::memory_order_acquire);
  }
}

void ThreadPool::run_tasks(int64_t n_tasks, TaskFn fn, void* ctx) {
  if (workers_.empty() || n_tasks <= 1) {
    for (int64_t t = 0; t < n_tasks; ++t) fn(ctx, t, 0);
    return;
  }
  const uint32_t generation = generation_.load(std::memory_order_relaxed) + 1;
  // Close the claims first: a worker that has just finished the previous
  // job's last task may still be reading claim_ and job_tasks_. Once claim_
  // holds the new generation its compare-and-swap fails, so it cannot take
  // "task n" of the old job as if the new job's larger task count allowed it
  // (that ran a task twice, and the extra count could leave this thread
  // waiting for a total that was never reached). The release store of
  // job_tasks_ makes a worker that reads the new count see the closed claim.
  claim_.store(pack(generation, kClosed), std::memory_order_release);
  job_fn_ = fn;
  job_ctx_ = ctx;
  tasks_done_.store(0, std::memory_order_relaxed);
  job_tasks_.store(n_tasks, std::memory_order_release);
  claim_.store(pack(generation, 0), std::memory_order_release);
  {
    // Under the lock so a worker that is about to sleep cannot miss the job.
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.store(generation, std::memory_order_release);
  }
  wake_.notify_all();
  work_on_job(generation, 0);
  // Only tasks that workers hold are left; a worker that is still asleep holds none.
  auto all_done = [&] { return tasks_done_.load(std::memory_order_acquire) == n_tasks; };
  if (!spin_until(all_done)) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, all_done);
  }
}

void ThreadPool::worker_loop(int32_t thread) {
  uint32_t seen = 0;
  for (;;) {
    auto has_news = [&] {
      return generation_.load(std::memory_order_acquire) != seen || stopping_.load(std::memory_order_acquire);
    };
    if (!spin_until(has_news)) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, has_news);
    }
    if (stopping_.load(std::memory_order_acquire)) return;
    seen = generation_.load(std::memory_order_acquire);
    work_on_job(seen, thread);
  }
}

}  // namespace kvlite
