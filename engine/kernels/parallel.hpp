// Row loops that spread over the OpenMP team only when they are worth it. Inside a parallel region (the
// attention items quantise one query or key at a time) or for little work they run in place: an inactive
// `#pragma omp parallel if (false)` still makes libgomp build a team, a heap allocation per call, and a
// team's fork and join costs more than a few thousand elements of work (a decode step of ten questions
// runs some 400 of these loops on ten rows each).
#pragma once

#include <omp.h>

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

}  // namespace folio::engine::kernels
