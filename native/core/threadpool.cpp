#include "threadpool.h"

#include <algorithm>
#include <string>
#include <utility>

#include "platform.h"

#if defined(_MSC_VER)
#include <intrin.h>
#endif

namespace hb {

namespace {

inline void cpu_relax() {
#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
  _mm_pause();
#elif defined(_MSC_VER) && defined(_M_ARM64)
  __yield();
#elif defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Spins this many rounds waiting for the next job before sleeping. A token's matmuls follow
// each other within microseconds, so a short spin avoids the condition variable's wake-up cost.
constexpr int kSpinRounds = 1 << 14;

}  // namespace

int ThreadPool::default_threads() {
  const int cores = platform::physical_cores();
  if (cores > 0) return cores;
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  workers_.reserve(static_cast<size_t>(n_threads_ - 1));
  for (int i = 1; i < n_threads_; i++) workers_.emplace_back([this, i] { worker_main(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(sleep_mutex_);
    stop_.store(true);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::work_on(uint64_t job, int thread) {
  const uint64_t job_id = job >> (2 * kTaskBits);
  uint64_t w = job_word_.load(std::memory_order_acquire);
  for (;;) {
    if ((w >> (2 * kTaskBits)) != job_id) return;  // a newer job; the caller will announce it
    const uint64_t next = w & kTaskMask, n = (w >> kTaskBits) & kTaskMask;
    if (next >= n) return;  // all tasks claimed
    if (!job_word_.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
    // Which thread runs a task never changes what the task computes.
    job_fn_(job_ctx_, static_cast<int64_t>(next), thread);
    tasks_done_.fetch_add(1, std::memory_order_acq_rel);
    w = job_word_.load(std::memory_order_acquire);
  }
}

void ThreadPool::worker_main(int thread) {
  platform::name_this_thread(("halfbyte-" + std::to_string(thread)).c_str());
  uint64_t seen = job_word_.load(std::memory_order_acquire) >> (2 * kTaskBits);
  for (;;) {
    uint64_t w = job_word_.load(std::memory_order_acquire);
    for (int spin = 0; (w >> (2 * kTaskBits)) == seen && spin < kSpinRounds; spin++) {
      if (stop_.load(std::memory_order_relaxed)) return;
      cpu_relax();
      if ((spin & 255) == 255) std::this_thread::yield();  // oversubscribed machines
      w = job_word_.load(std::memory_order_acquire);
    }
    if ((w >> (2 * kTaskBits)) == seen) {
      std::unique_lock<std::mutex> lk(sleep_mutex_);
      // seq_cst pairs with run_job(): either it sees this sleeper or this check sees its job.
      sleepers_.fetch_add(1);
      wake_.wait(lk, [&] { return stop_.load() || (job_word_.load() >> (2 * kTaskBits)) != seen; });
      sleepers_.fetch_sub(1);
      if (stop_.load()) return;
      w = job_word_.load(std::memory_order_acquire);
    }
    seen = w >> (2 * kTaskBits);
    work_on(w, thread);
  }
}

// One job of n_tasks (< 2^20) tasks; job_fn_/job_ctx_ already set.
void ThreadPool::run_job(int64_t n_tasks) {
  const uint64_t old = job_word_.load(std::memory_order_relaxed);
  const uint64_t job_id = ((old >> (2 * kTaskBits)) + 1) & ((uint64_t(1) << (64 - 2 * kTaskBits)) - 1);
  const uint64_t w = (job_id << (2 * kTaskBits)) | (static_cast<uint64_t>(n_tasks) << kTaskBits);
  tasks_done_.store(0, std::memory_order_relaxed);
  job_word_.store(w);  // seq_cst: publishes job_fn_/job_ctx_ and pairs with the sleepers_ check
  if (sleepers_.load() > 0) {
    // Taking the lock orders this notify after a sleeper's predicate check (no lost wake-up).
    std::lock_guard<std::mutex> lk(sleep_mutex_);
    wake_.notify_all();
  }
  work_on(w, 0);
  // Wait only for tasks other threads claimed and are still running.
  for (int spin = 0; tasks_done_.load(std::memory_order_acquire) < n_tasks; spin++) {
    cpu_relax();
    if ((spin & 63) == 63) std::this_thread::yield();
  }
}

void ThreadPool::run(int64_t n_tasks, TaskFn fn, void* ctx) {
  if (n_tasks <= 0) return;
  std::lock_guard<std::mutex> turn(turn_);
  if (workers_.empty() || n_tasks == 1) {
    for (int64_t t = 0; t < n_tasks; t++) fn(ctx, t, 0);
    return;
  }
  // Jobs beyond the task field's range run as consecutive jobs over offset task ranges.
  struct Offset {
    TaskFn fn;
    void* ctx;
    int64_t base;
  } off{fn, ctx, 0};
  const int64_t max_tasks = static_cast<int64_t>(kTaskMask);
  if (n_tasks <= max_tasks) {
    job_fn_ = fn;
    job_ctx_ = ctx;
    run_job(n_tasks);
    return;
  }
  job_fn_ = [](void* c, int64_t task, int thread) {
    const Offset* o = static_cast<const Offset*>(c);
    o->fn(o->ctx, o->base + task, thread);
  };
  job_ctx_ = &off;
  for (; off.base < n_tasks; off.base += max_tasks) run_job(std::min(max_tasks, n_tasks - off.base));
}

}  // namespace hb
