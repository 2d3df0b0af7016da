#include "engine/kernels/pixel_shuffle.hpp"

#include <algorithm>
#include <cstddef>

namespace folio::engine::kernels {

void pixel_shuffle(const float* x, int n, int dim, int s, float* y) {
  const int m = n / s;
  for (int h = 0; h < m; ++h)
    for (int w = 0; w < m; ++w) {
      float* out = y + (static_cast<std::size_t>(h) * m + w) * dim * s * s;
      for (int r = 0; r < s; ++r)
        for (int c = 0; c < s; ++c) {
          const float* in = x + (static_cast<std::size_t>(h * s + r) * n + (w * s + c)) * dim;
          std::copy(in, in + dim, out + (static_cast<std::size_t>(r) * s + c) * dim);
        }
    }
}

}  // namespace folio::engine::kernels
