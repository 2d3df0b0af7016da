// Row loops that spread over the OpenMP team only when they are worth it. Inside a parallel region (the
// attention items quantise one query or key at a time) or for little work they run in place: an inactive
// `#pragma omp parallel if (false)` still makes libgomp build a team, a heap allocation per call, and a
// team's fork and join costs more than a few thousand elements of work (a decode step of ten questions
// runs some 400 of these loops on ten rows each).
#pragma once

#include <omp.h>

#include <atomic>
#include <cstdint>

namespace folio::engine::kernels {

// Elements of work (rows x columns) below which a loop stays on the calling thread.
constexpr long kMinParallelElements = 32768;

inline bool worth_threads(long elements) { return elements >= kMinParallelElements && !omp_in_parallel(); }

template <typename F>
void for_each_row(int rows, int cols, F&& f) {
  if (rows < 2 || !worth_threads(static_cast<long>(rows) * cols)) {
    for (int r = 0; r < rows; ++r) f(r);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; ++r) f(r);
}

// Work positions split into one share per thread of a team, claimed a chunk at a time: each thread takes its
// own share from the front, in order (what it streams stays one stream, as with static shares), and a
// thread done with its own takes the others' chunks from their backs. With the cores shared, threads given
// equal work finish it several percent apart; this hands the difference to whichever is ahead.
// Where a chunk ends is the caller's: cut(share, lo, hi, back) is the end of the chunk taken from the front
// of [lo, hi), what is left of share `share`, or the start of the one taken from its back.
class ClaimedShares {
 public:
  static constexpr int kMaxTeam = 64;

  void set(int share, int lo, int hi) { shares_[share].range.store(pack(lo, hi), std::memory_order_relaxed); }

  // The next chunk [u0, u1) for thread i of `team`: from its own share's front, else from another's back;
  // false once every share is empty. own_end: the end of its own share when the chunk is its own (what it
  // may fetch ahead into), else u1.
  template <typename Cut>
  bool next(int i, int team, const Cut& cut, int& u0, int& u1, int& own_end) {
    for (int j = 0; j < team; ++j) {
      const int share = (i + j) % team;
      std::uint64_t cur = shares_[share].range.load(std::memory_order_relaxed);
      for (;;) {
        const int lo = static_cast<int>(cur & 0xffffffffu), hi = static_cast<int>(cur >> 32);
        if (lo >= hi) break;
        const bool back = j > 0;
        const int at = cut(share, lo, hi, back);
        if (shares_[share].range.compare_exchange_weak(cur, back ? pack(lo, at) : pack(at, hi), std::memory_order_acq_rel,
                                                       std::memory_order_relaxed)) {
          u0 = back ? at : lo;
          u1 = back ? hi : at;
          own_end = back ? u1 : hi;
          return true;
        }
      }
    }
    return false;
  }

 private:
  static std::uint64_t pack(int lo, int hi) {
    return static_cast<std::uint32_t>(lo) | static_cast<std::uint64_t>(static_cast<std::uint32_t>(hi)) << 32;
  }
  struct alignas(64) Share {
    std::atomic<std::uint64_t> range{0};
  };
  Share shares_[kMaxTeam];
};

}  // namespace folio::engine::kernels
