// Persistent worker threads for the forward pass. One pool per Model, created once; every
// parallel_for runs tasks [0, n_tasks) on the workers and on the calling thread, with no heap
// allocation per call. Workers spin briefly on the job word (low wake-up latency between
// the many small matmuls of one token), then sleep on a condition variable.
//
// Determinism is the caller's job and is easy: tasks are fixed chunks of work chosen without
// looking at the thread count, and every output element belongs to exactly one task.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace hb {

class ThreadPool {
 public:
  // n_threads counts the calling thread: n_threads - 1 workers are started (at least 1 total).
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Runs fn(task) for every task in [0, n_tasks) and returns when all are done. fn is any
  // callable taking int64_t; it is referenced, not copied (no allocation). Calls from several
  // threads at once are safe: they take turns on the pool.
  template <class Fn>
  void parallel_for(int64_t n_tasks, Fn&& fn) {
    using F = typename std::remove_reference<Fn>::type;
    run(n_tasks, [](void* ctx, int64_t task, int) { (*static_cast<F*>(ctx))(task); },
        const_cast<void*>(static_cast<const void*>(&fn)));
  }
  // Same, with fn(task, thread): thread in [0, size()) names the thread running the task, for
  // per-thread scratch buffers (never for deciding what a task computes).
  template <class Fn>
  void parallel_for_indexed(int64_t n_tasks, Fn&& fn) {
    using F = typename std::remove_reference<Fn>::type;
    run(n_tasks, [](void* ctx, int64_t task, int thread) { (*static_cast<F*>(ctx))(task, thread); },
        const_cast<void*>(static_cast<const void*>(&fn)));
  }

  // Physical cores available to this process (SMT siblings counted once), at least 1.
  static int default_threads();

 private:
  using TaskFn = void (*)(void* ctx, int64_t task, int thread);
  void run(int64_t n_tasks, TaskFn fn, void* ctx);
  void run_job(int64_t n_tasks);
  void worker_main(int thread);
  // Claims and runs tasks of job `job` until none are left; false once the job has changed.
  void work_on(uint64_t job, int thread);

  int n_threads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex turn_;  // one parallel_for at a time

  // The job word packs [job id : 24 | task count : 20 | next task : 20]. Claiming a task is one
  // CAS on it, so a worker that wakes late can never claim a task of a job that has moved on,
  // and the caller never waits for workers that took no task (asleep, or descheduled).
  static constexpr int kTaskBits = 20;
  static constexpr uint64_t kTaskMask = (uint64_t(1) << kTaskBits) - 1;
  std::atomic<uint64_t> job_word_{0};
  std::atomic<int64_t> tasks_done_{0};  // tasks of the current job that finished
  // Read only by a thread holding a claimed task of the current job (the caller writes them
  // before publishing the job word, and only after the previous job's tasks are all done).
  TaskFn job_fn_ = nullptr;
  void* job_ctx_ = nullptr;

  std::mutex sleep_mutex_;
  std::condition_variable wake_;
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace hb
