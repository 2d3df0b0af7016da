// A float matrix transposed into another's storage (a prompt's K rows into the cache's dimension-major K).
#pragma once

#include <cstddef>

namespace folio::engine::kernels {

// dst[c * dst_stride + r] = src[r * src_stride + c] for r < rows, c < cols; spread over the team when the
// matrix is large enough.
void transpose(const float* src, int rows, int cols, std::size_t src_stride, float* dst, std::size_t dst_stride);

}  // namespace folio::engine::kernels
