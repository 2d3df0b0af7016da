#include "engine/kernels/rope.hpp"

#include <cmath>

namespace folio::engine::kernels {

std::vector<float> rope_inv_freq(int head_dim, float theta) {
  std::vector<float> f(head_dim / 2);
  for (int i = 0; i < head_dim / 2; ++i)
    f[i] = 1.0f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(head_dim));
  return f;
}

void apply_rope(float* x, int rows, int row_stride, int heads, int head_dim, int first_position,
                const std::vector<float>& inv_freq) {
  std::vector<int> positions(rows);
  for (int r = 0; r < rows; ++r) positions[r] = first_position + r;
  apply_rope(x, rows, row_stride, heads, head_dim, positions.data(), inv_freq);
}

void apply_rope(float* x, int rows, int row_stride, int heads, int head_dim, const int* positions,
                const std::vector<float>& inv_freq) {
  const int half = head_dim / 2;
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int r = 0; r < rows; ++r) {
    // HF computes the angle as float32 position * inv_freq, then cos/sin in float32.
    std::vector<float> c(half), s(half);
    const float pos = static_cast<float>(positions[r]);
    for (int i = 0; i < half; ++i) {
      const float a = pos * inv_freq[i];
      c[i] = std::cos(a);
      s[i] = std::sin(a);
    }
    for (int h = 0; h < heads; ++h) {
      float* v = x + static_cast<std::size_t>(r) * row_stride + static_cast<std::size_t>(h) * head_dim;
      for (int i = 0; i < half; ++i) {
        const float a = v[i], b = v[i + half];
        v[i] = a * c[i] - b * s[i];
        v[i + half] = b * c[i] + a * s[i];
      }
    }
  }
}

}  // namespace folio::engine::kernels
