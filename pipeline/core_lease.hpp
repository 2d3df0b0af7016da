// The CPU budget of a run (--threads N) as N permits. CPU stages (rendering, tiling) hold one permit
// per task; the engine holds all N for one engine call and runs its OpenMP team on them. So at most N
// threads compute at any moment: oneDNN's OpenMP team and the TBB workers never oversubscribe the cores.
#pragma once

#include <condition_variable>
#include <mutex>

namespace folio::pipeline {

class CoreLease {
 public:
  explicit CoreLease(int cores);

  int cores() const { return cores_; }

  // RAII holders. A stage holds one permit; the engine waits until it can hold all of them.
  class Hold {
   public:
    Hold(CoreLease& lease, int permits);
    ~Hold();
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;

   private:
    CoreLease& lease_;
    int permits_;
  };

  Hold stage() { return Hold(*this, 1); }
  Hold engine() { return Hold(*this, cores_); }

 private:
  void acquire(int permits);
  void release(int permits);

  const int cores_;
  int free_;
  int engine_waiting_ = 0;  // a waiting engine call goes first, so stages cannot starve it
  std::mutex mutex_;
  std::condition_variable cv_;
};

}  // namespace folio::pipeline
