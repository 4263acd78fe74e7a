#include "threadpool.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <utility>

#if defined(__linux__)
#include <sched.h>
#endif

namespace hb {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Spins this many rounds waiting for the next job before sleeping. A token's matmuls follow
// each other within microseconds, so a short spin avoids the condition variable's wake-up cost.
constexpr int kSpinRounds = 1 << 14;

bool read_int_file(const std::string& path, long* out) {
  std::ifstream f(path);
  if (!f) return false;
  f >> *out;
  return static_cast<bool>(f);
}

}  // namespace

int ThreadPool::default_threads() {
  int logical = static_cast<int>(std::thread::hardware_concurrency());
#if defined(__linux__)
  // Count distinct (package, core) pairs among the CPUs this process may run on, so SMT
  // siblings count once (matmuls are bound by memory and FMA units, shared by siblings).
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int allowed = CPU_COUNT(&set);
    std::set<std::pair<long, long>> cores;
    bool topology_ok = true;
    for (int cpu = 0; cpu < CPU_SETSIZE && topology_ok; cpu++) {
      if (!CPU_ISSET(cpu, &set)) continue;
      std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
      long core = 0, pkg = 0;
      if (!read_int_file(base + "core_id", &core) || !read_int_file(base + "physical_package_id", &pkg)) {
        topology_ok = false;
        break;
      }
      cores.insert({pkg, core});
    }
    if (topology_ok && !cores.empty()) return static_cast<int>(cores.size());
    if (allowed > 0) logical = allowed;
  }
#endif
  return std::max(1, logical);
}

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  workers_.reserve(static_cast<size_t>(n_threads_ - 1));
  for (int i = 1; i < n_threads_; i++) workers_.emplace_back([this, i] { worker_main(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(sleep_mutex_);
    stop_.store(true, std::memory_order_release);
    epoch_.fetch_add(1, std::memory_order_acq_rel);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::work_on_current_job(int thread) {
  // Tasks are handed out one at a time; which thread runs a task never changes its result.
  for (;;) {
    int64_t t = next_task_.fetch_add(1, std::memory_order_relaxed);
    if (t >= job_n_) break;
    job_fn_(job_ctx_, t, thread);
  }
}

void ThreadPool::worker_main(int thread) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t e = epoch_.load(std::memory_order_acquire);
    for (int spin = 0; e == seen && spin < kSpinRounds; spin++) {
      cpu_relax();
      if ((spin & 255) == 255) std::this_thread::yield();  // oversubscribed machines
      e = epoch_.load(std::memory_order_acquire);
    }
    if (e == seen) {
      std::unique_lock<std::mutex> lk(sleep_mutex_);
      // seq_cst pairs with run(): either it sees this sleeper or this check sees its epoch.
      sleepers_.fetch_add(1);
      wake_.wait(lk, [&] { return epoch_.load() != seen; });
      sleepers_.fetch_sub(1, std::memory_order_acq_rel);
      e = epoch_.load(std::memory_order_acquire);
    }
    seen = e;
    if (stop_.load(std::memory_order_acquire)) return;
    work_on_current_job(thread);
    workers_done_.fetch_add(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::run(int64_t n_tasks, TaskFn fn, void* ctx) {
  if (n_tasks <= 0) return;
  std::lock_guard<std::mutex> turn(turn_);
  if (workers_.empty() || n_tasks == 1) {
    for (int64_t t = 0; t < n_tasks; t++) fn(ctx, t, 0);
    return;
  }
  job_fn_ = fn;
  job_ctx_ = ctx;
  job_n_ = n_tasks;
  next_task_.store(0, std::memory_order_relaxed);
  workers_done_.store(0, std::memory_order_relaxed);
  epoch_.fetch_add(1);  // publishes the job fields above (seq_cst: see worker_main)
  if (sleepers_.load() > 0) {
    // Taking the lock orders this notify after a worker's predicate check (no lost wake-up).
    std::lock_guard<std::mutex> lk(sleep_mutex_);
    wake_.notify_all();
  }
  work_on_current_job(0);
  // Every worker must have left the job before fn/ctx go out of scope.
  const int n_workers = static_cast<int>(workers_.size());
  for (int spin = 0; workers_done_.load(std::memory_order_acquire) < n_workers; spin++) {
    cpu_relax();
    if ((spin & 63) == 63) std::this_thread::yield();
  }
}

}  // namespace hb
