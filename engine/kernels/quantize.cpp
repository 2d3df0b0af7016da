#include "engine/kernels/quantize.hpp"

#include <algorithm>
#include <cmath>

namespace folio::engine::kernels {
namespace {

// Compiled for AVX-512, AVX2 and baseline; the loader picks the best the CPU has.
__attribute__((target_clones("avx512f", "avx2", "default"))) void quantize_row(const float* x, int cols, std::int8_t* q,
                                                                                float* scale) {
  float amax = 0.0f;
#pragma omp simd reduction(max : amax)
  for (int i = 0; i < cols; ++i) amax = std::max(amax, std::abs(x[i]));
  *scale = amax / 127.0f;
  const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
  // Round half to even through the float magic number (exact for |v| < 2^22), which vectorises.
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
#pragma omp simd
  for (int i = 0; i < cols; ++i) {
    const float v = std::min(127.0f, std::max(-127.0f, x[i] * inv));
    q[i] = static_cast<std::int8_t>(static_cast<int>((v + kMagic) - kMagic));
  }
}

}  // namespace

void quantize_rows_s8(const float* x, int rows, int cols, int stride, std::int8_t* q, float* scales) {
#pragma omp parallel for schedule(static) if (rows >= 8)
  for (int r = 0; r < rows; ++r)
    quantize_row(x + static_cast<std::size_t>(r) * stride, cols, q + static_cast<std::size_t>(r) * cols, scales + r);
}

}  // namespace folio::engine::kernels
