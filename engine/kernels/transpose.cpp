#include "engine/kernels/transpose.hpp"

#include <immintrin.h>

#include <algorithm>

#include "engine/kernels/parallel.hpp"
#include "engine/kernels/vector_math_avx512.hpp"

namespace folio::engine::kernels {
namespace {

// Rows [r0, r0 + 16) of every column: 16 rows gathered per column into one contiguous run of dst. Each
// gather reads one element from each of the 16 rows' lines, which the block's first columns brought into L1
// (a plain column-by-column copy read every element of a column from a different line, a prompt's 1,112
// rows too many for L1 to keep them until the next column: 1.3 ns an element).
// (GCC 12's gather intrinsic starts from an undefined vector and trips -Wmaybe-uninitialized.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
__attribute__((target("avx512f"))) void block16_avx512(const float* src, int cols, std::size_t src_stride,
                                                       float* dst, std::size_t dst_stride) {
  const __m512i rows = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                          _mm512_set1_epi32(static_cast<int>(src_stride)));
  for (int c = 0; c < cols; ++c)
    _mm512_storeu_ps(dst + c * dst_stride, _mm512_i32gather_ps(rows, src + c, 4));
}
#pragma GCC diagnostic pop

void block_scalar(const float* src, int rows, int cols, std::size_t src_stride, float* dst, std::size_t dst_stride) {
  for (int c = 0; c < cols; ++c)
    for (int r = 0; r < rows; ++r) dst[c * dst_stride + r] = src[r * src_stride + c];
}

}  // namespace

void transpose(const float* src, int rows, int cols, std::size_t src_stride, float* dst, std::size_t dst_stride) {
  // Gather offsets are 32-bit: 16 rows of the source must lie within 2^31 bytes.
  const bool avx512 = cpu_has_avx512() && src_stride * 16 < (std::size_t{1} << 29);
  const int blocks = (rows + 15) / 16;
  for_each_row(blocks, 16 * cols, [&](int b) {
    const int r0 = 16 * b, n = std::min(16, rows - r0);
    const float* s = src + r0 * src_stride;
    float* d = dst + r0;
    if (avx512 && n == 16) block16_avx512(s, cols, src_stride, d, dst_stride);
    else block_scalar(s, n, cols, src_stride, d, dst_stride);
  });
}

}  // namespace folio::engine::kernels
