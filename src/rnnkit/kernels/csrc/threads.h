// Threads of the kernels: when a problem runs serially, how large a team a time loop gets, how
// a team splits the work (batch rows or blocks of hidden units) and the spin barrier it meets at
// once per step. The thresholds are globals so that tests can force every path (bindings.cpp).
#pragma once

#include <ATen/Parallel.h>
#include <c10/util/ParallelGuard.h>

#ifdef _OPENMP
#include <omp.h>
#else  // a compiler without OpenMP: every time loop runs on the calling thread
inline int omp_get_num_threads() { return 1; }
inline int omp_get_thread_num() { return 0; }
inline int omp_in_parallel() { return 0; }
#endif
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <thread>
#include <vector>

// MKL's per-thread thread count, exported by libtorch_cpu when torch uses MKL (weak: optional).
extern "C" int MKL_Set_Num_Threads_Local(int) __attribute__((weak));

namespace rnnkit {

// Per-step products of the GRU, Elman and Jordan loops with B * K * N at most this many
// multiply-adds take the hand-written loop on the calling thread; larger ones go to BLAS (oneDNN
// or MKL, with torch's threads). With one thread BLAS wins from about 4M multiply-adds on. With
// several, each BLAS call of the time loop is a fork and join of the thread pool: on an idle
// 2-core machine the second core pays for it from about 1M on (measured on the LSTM before it
// had its own loop, training at 64x50x256x256 on 2 threads: 31 ms with BLAS from 1M, 56 ms
// with the loop up to 32M), while on a machine loaded with other jobs the join waits for a
// descheduled worker and the loop wins up to 32M (1.8x at 32x512 @ 512x2048). rnnkit tunes for
// the idle machine; `rnnkit train` already drops to one thread when the machine is busy.
inline int64_t g_small_work = 1 << 22;
inline int64_t g_small_work_threaded = 1 << 20;
// GRU, Elman and Jordan problems whose recurrent product is at most this large run entirely on
// the calling thread (with the sequence-long products, if those are small too).
inline int64_t g_serial_work = 1 << 18;
// The LSTM's own time loop goes to a team of threads from this many multiply-adds a step. On
// the idle 2-core machine that paid from about 8K (LSTM forward, 1000 steps: batch 1 hidden 64
// (16K) 0.36 ms vs 0.53 ms on one thread, batch 4 hidden 32 (16K) 0.44 vs 0.49; batch 1
// hidden 32 (4K) even, batch 1 hidden 16 (1K) 0.13 vs 0.10).
inline int64_t g_lstm_team_work = 1 << 13;

// A problem whose recurrent product takes the hand-written loop is small throughout: its few
// matrix products and reductions run on the calling thread. Waking the intra-op pool for them
// costs more than it saves, and on a busy machine a descheduled worker stalls the whole call.
class SerialScope {
  // torch sizes its thread pool lazily, from MKL's thread count among others: that must happen
  // before this scope sets MKL to one thread, or the whole process would stay on one thread.
  static bool init_threads() { return at::get_num_threads() > 0; }

 public:
  explicit SerialScope(bool on)
      : threads_ready_(init_threads()), on_(on), guard_(on || c10::ParallelGuard::is_enabled()) {
    if (on_ && MKL_Set_Num_Threads_Local) previous_ = MKL_Set_Num_Threads_Local(1);
  }
  ~SerialScope() {
    if (on_ && MKL_Set_Num_Threads_Local) MKL_Set_Num_Threads_Local(previous_);
  }
  SerialScope(const SerialScope&) = delete;
  SerialScope& operator=(const SerialScope&) = delete;

 private:
  bool threads_ready_;
  bool on_;
  int previous_ = 0;
  c10::ParallelGuard guard_;
};

inline bool is_small(int64_t B, int64_t K, int64_t N) { return B * K * N <= g_serial_work; }

// The products over the whole sequence (input projection, dx, weight gradients) are large even
// when each step is small: at batch 4, hidden 64 and 1000 steps the LSTM's input projection is
// 65M multiply-adds, 1.3 ms on one thread of MKL and 0.3 ms on oneDNN with two. So a call runs
// serially only if these are small too; a small time loop runs on the calling thread either way
// (hand-written products, and a team of one for the LSTM loop).
inline int64_t g_serial_sequence_work = 1 << 20;
inline bool is_small_sequence(int64_t rows, int64_t K, int64_t N) {
  return rows * K * N <= g_serial_sequence_work;
}

// The team for a sequence loop: one thread for problems too small to share, else torch's count.
inline int team_size(bool serial) {
  if (serial || c10::ParallelGuard::is_enabled() || omp_in_parallel()) return 1;
  // More spinning threads than cores only wait for each other.
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, std::min(at::get_num_threads(), cores));
}

inline bool hand_product(int64_t B, int64_t K, int64_t N) {
  return B * K * N <= (at::get_num_threads() > 1 ? g_small_work_threaded : g_small_work);
}

// Row tiles of at most `most` rows, as even as possible (32 rows: 6,6,5,5,5,5, not 6,6,6,6,6,2:
// a tile of few rows is bound by its weight loads, not by its FMAs).
template <typename Fn>
inline void for_row_tiles(int64_t lo, int64_t hi, int64_t most, Fn&& fn) {
  const int64_t B = hi - lo, n = (B + most - 1) / most;
  int64_t b0 = lo;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t rows = B / n + (i < B % n ? 1 : 0);
    fn(b0, rows);
    b0 += rows;
  }
}

// A thread's share of an LSTM time loop: rows [b0, b1) x blocks of hidden units [jb0, jb1).
// Split by units, the team shares each step and meets at a barrier per step; split by rows,
// each thread runs its own sequences with no barrier, but reads all of w_hh every step. On the
// idle 2-core machine (training step, interleaved A/B) rows won wherever w_hh fits a core's
// L2 cache (H <= 256: 4x1000x64x64 4.5 vs 5.1 ms, 32x100x128x128 9.5 vs 12.3, 64x50x256x256
// 31.5 vs 36.4) and with 16 or more rows per thread (32x100x512x512 114 vs 122 ms); units won
// with fewer rows and larger weights (2x200x512x512 28 vs 36 ms, 16x100x1024x1024 253 vs 270).
struct Share {
  int64_t b0, b1, jb0, jb1;
  bool by_rows;
};

inline int64_t g_row_split_bytes = int64_t(1) << 20;  // w_hh of at most this size: split by rows

inline bool split_by_rows(int64_t B, int64_t H, int64_t elem, int team) {
  return team > 1 && B >= team && (4 * H * H * elem <= g_row_split_bytes || B >= 16 * team);
}

inline Share share_of(bool by_rows, int64_t B, int64_t NB, int64_t id, int64_t nt) {
  if (by_rows) return {B * id / nt, B * (id + 1) / nt, 0, NB, true};
  return {0, B, NB * id / nt, NB * (id + 1) / nt, false};
}

// The per-step barrier of a team in a time loop. libgomp's barrier cost about 0.7 us per step
// on 2 cores, more than a whole step's arithmetic at batch 4, hidden 64. Here each thread
// publishes how many steps it has finished in a cache line of its own and waits until every
// other thread has finished as many: one line moves between cores per thread and step, with no
// read-modify-write contended between cores. A waiter spins a few microseconds (on an idle
// machine its partner arrives within one) and then sleeps on a futex until the partner's count
// moves: with more busy threads than free cores, spinning (even with sched_yield) kept the
// partner off the core it needed: a 200-step loop took 75-157 ms instead of 0.3 ms (review).
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

class SpinBarrier {
  struct alignas(64) Slot {
    std::atomic<int32_t> done{0};     // steps finished (the futex word)
    std::atomic<int32_t> sleepers{0};  // threads asleep waiting for `done` to move
  };
  static constexpr int kSpins = 2048;

 public:
  explicit SpinBarrier(int team) : slots_(std::max(team, 1)) {}
  void wait(int id, int n) {
    Slot& mine = slots_[id];
    const int32_t step = mine.done.load(std::memory_order_relaxed) + 1;
    mine.done.store(step, std::memory_order_seq_cst);
    if (mine.sleepers.load(std::memory_order_seq_cst) > 0) wake(mine.done);
    for (int other = 0; other < n; ++other) {
      if (other == id) continue;
      Slot& theirs = slots_[other];
      for (int spins = 0; spins < kSpins; ++spins) {
        if (theirs.done.load(std::memory_order_acquire) >= step) break;
        cpu_relax();
      }
      int32_t seen;
      while ((seen = theirs.done.load(std::memory_order_acquire)) < step) {
        theirs.sleepers.fetch_add(1, std::memory_order_seq_cst);
        // Either the partner's store is seen here, or it sees the sleeper and wakes it.
        if (theirs.done.load(std::memory_order_seq_cst) == seen) sleep(theirs.done, seen);
        theirs.sleepers.fetch_sub(1, std::memory_order_seq_cst);
      }
    }
  }

 private:
  static void sleep(std::atomic<int32_t>& word, int32_t value) {
#ifdef __linux__
    syscall(SYS_futex, reinterpret_cast<int32_t*>(&word), FUTEX_WAIT_PRIVATE, value, nullptr,
            nullptr, 0);
#else
    (void)word;
    (void)value;
    std::this_thread::yield();
#endif
  }
  static void wake(std::atomic<int32_t>& word) {
#ifdef __linux__
    syscall(SYS_futex, reinterpret_cast<int32_t*>(&word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
            nullptr, 0);
#else
    (void)word;
#endif
  }

  std::vector<Slot> slots_;
};

}  // namespace rnnkit
