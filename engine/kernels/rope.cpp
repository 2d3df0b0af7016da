#include "engine/kernels/rope.hpp"

#include <cmath>
#include <cstddef>

#include "engine/kernels/parallel.hpp"

namespace folio::engine::kernels {

std::vector<float> rope_inv_freq(int head_dim, float theta) {
  std::vector<float> f(head_dim / 2);
  for (int i = 0; i < head_dim / 2; ++i)
    f[i] = 1.0f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(head_dim));
  return f;
}

RopeAngles rope_angles(const int* positions, int rows, const std::vector<float>& inv_freq) {
  RopeAngles a;
  a.rows = rows;
  a.half = static_cast<int>(inv_freq.size());
  a.cos.resize(static_cast<std::size_t>(rows) * a.half);
  a.sin.resize(a.cos.size());
  for_each_row(rows, 8 * a.half, [&](int r) {
    const float pos = static_cast<float>(positions[r]);
    for (int i = 0; i < a.half; ++i) {
      const float angle = pos * inv_freq[i];
      a.cos[static_cast<std::size_t>(r) * a.half + i] = std::cos(angle);
      a.sin[static_cast<std::size_t>(r) * a.half + i] = std::sin(angle);
    }
  });
  return a;
}

namespace {

// One row's heads rotated by its angles (cos c, sin s): compiled per ISA, since the build's baseline
// (x86-64) would leave the loop on 4-lane SSE.
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) void rope_row(float* x, int heads, int half,
                                                                            const float* c, const float* s) {
  for (int h = 0; h < heads; ++h) {
    float* v = x + static_cast<std::size_t>(h) * 2 * half;
#pragma omp simd
    for (int i = 0; i < half; ++i) {
      const float a = v[i], b = v[i + half];
      v[i] = a * c[i] - b * s[i];
      v[i + half] = b * c[i] + a * s[i];
    }
  }
}

}  // namespace

void apply_rope(float* x, int row_stride, int heads, const RopeAngles& angles) {
  const int half = angles.half;
  for_each_row(angles.rows, heads * 2 * half, [&](int r) {
    rope_row(x + static_cast<std::size_t>(r) * row_stride, heads, half,
             angles.cos.data() + static_cast<std::size_t>(r) * half, angles.sin.data() + static_cast<std::size_t>(r) * half);
  });
}

void apply_rope(float* x, int rows, int row_stride, int heads, int first_position, const std::vector<float>& inv_freq) {
  std::vector<int> positions(rows);
  for (int r = 0; r < rows; ++r) positions[r] = first_position + r;
  apply_rope(x, row_stride, heads, rope_angles(positions.data(), rows, inv_freq));
}

}  // namespace folio::engine::kernels
