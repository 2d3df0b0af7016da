// Row loops that spread over the OpenMP team only when they are worth it. Inside a parallel region (the
// attention items quantise one query or key at a time) or for a few rows they run in place: an inactive
// `#pragma omp parallel if (false)` still makes libgomp build a team, a heap allocation per call.
#pragma once

#include <omp.h>

namespace folio::engine::kernels {

template <typename F>
void for_each_row(int rows, int min_rows_for_threads, F&& f) {
  if (rows < min_rows_for_threads || omp_in_parallel()) {
    for (int r = 0; r < rows; ++r) f(r);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; ++r) f(r);
}

}  // namespace folio::engine::kernels
