// What this machine can do at best, measured in the same run as the engine so that each phase can be
// reported as a fraction of its limit: oneDNN's best int8 matmul throughput and the memory bandwidth.
#pragma once

namespace folio::engine {

struct MachineLimits {
  double int8_gops = 0;      // best s8 x s8 -> s32 matmul throughput (M = N = K = 2048 class shapes)
  double bandwidth_gbs = 0;  // STREAM-like triad a = b + s*c over arrays far larger than the caches
};

// Takes about a second. `threads` OpenMP threads (0: OpenMP's default).
MachineLimits measure_machine_limits(int threads);

}  // namespace folio::engine
