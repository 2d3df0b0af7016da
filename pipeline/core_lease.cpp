#include "pipeline/core_lease.hpp"

#include <algorithm>

namespace folio::pipeline {

CoreLease::CoreLease(int cores) : cores_(std::max(1, cores)), free_(cores_) {}

CoreLease::Hold::Hold(CoreLease& lease, int permits) : lease_(lease), permits_(permits) { lease_.acquire(permits_); }
CoreLease::Hold::~Hold() { lease_.release(permits_); }

void CoreLease::acquire(int permits) {
  std::unique_lock lock(mutex_);
  if (permits == cores_) {
    ++engine_waiting_;
    cv_.wait(lock, [&] { return free_ == cores_; });
    --engine_waiting_;
  } else {
    // Stages yield to a waiting engine call: the engine is the bottleneck of a run.
    cv_.wait(lock, [&] { return free_ >= permits && engine_waiting_ == 0; });
  }
  free_ -= permits;
}

void CoreLease::release(int permits) {
  {
    std::lock_guard lock(mutex_);
    free_ += permits;
  }
  cv_.notify_all();
}

}  // namespace folio::pipeline
