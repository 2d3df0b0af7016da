// Scratch buffers that only grow: hot loops reuse them, so a decode step or a page allocates nothing.
#pragma once

#include <cstddef>
#include <vector>

namespace folio::engine::kernels {

template <typename T>
T* grown(std::vector<T>& v, std::size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

}  // namespace folio::engine::kernels
