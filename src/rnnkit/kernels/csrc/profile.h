// Opt-in phase counters of the LSTM kernels, for benchmarks/profile_lstm.py: where the time of
// a call goes (packing, sequence-long products, per-step product, cell update, barrier). Off by
// default; when off a phase boundary costs one predictable branch. They count the CPU time of
// each thread (CLOCK_THREAD_CPUTIME_ID), so that time a thread spends descheduled on a shared
// machine is not charged to whatever phase it was in.
#pragma once

#include <time.h>

#include <atomic>
#include <cstdint>

namespace rnnkit {

enum Phase : int { kPack, kSeqProducts, kStepProduct, kCellUpdate, kBarrier, kOther, kPhases };
inline const char* const kPhaseNames[kPhases] = {"pack",     "sequence_products", "step_product",
                                                 "cell_update", "barrier",       "other"};

inline bool g_profile = false;
inline std::atomic<int64_t> g_phase_ns[kPhases];

inline int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// Charges the time since the previous lap to a phase, per thread; adds its sums to the global
// counters when destroyed (summed over threads: thread-time, not wall time).
class PhaseClock {
 public:
  PhaseClock() : on_(g_profile), last_(on_ ? now_ns() : 0) {}
  ~PhaseClock() {
    if (on_)
      for (int p = 0; p < kPhases; ++p) g_phase_ns[p].fetch_add(sums_[p], std::memory_order_relaxed);
  }
  PhaseClock(const PhaseClock&) = delete;
  PhaseClock& operator=(const PhaseClock&) = delete;
  // Restart without charging (the time was counted by the threads of a loop).
  inline void skip() {
    if (__builtin_expect(on_, 0)) last_ = now_ns();
  }
  inline void lap(Phase p) {
    if (__builtin_expect(on_, 0)) {
      const int64_t t = now_ns();
      sums_[p] += t - last_;
      last_ = t;
    }
  }

 private:
  bool on_;
  int64_t last_;
  int64_t sums_[kPhases] = {};
};

}  // namespace rnnkit
