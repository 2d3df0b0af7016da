#include "engine/kernels/norms.hpp"

#include <cmath>
#include <cstddef>

#include "engine/kernels/parallel.hpp"

namespace folio::engine::kernels {
namespace {

// Float sums in vector lanes (fast-math free: `omp simd reduction` allows the reassociation); two passes,
// mean then centred variance, so the variance keeps its precision without double accumulation.
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) void layer_norm_row(const float* x, int dim,
                                                                                  const float* w, const float* b,
                                                                                  float eps, float* y) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int i = 0; i < dim; ++i) sum += x[i];
  const float mean = sum / static_cast<float>(dim);
  float var = 0.0f;
#pragma omp simd reduction(+ : var)
  for (int i = 0; i < dim; ++i) var += (x[i] - mean) * (x[i] - mean);
  const float inv = 1.0f / std::sqrt(var / static_cast<float>(dim) + eps);
#pragma omp simd
  for (int i = 0; i < dim; ++i) y[i] = (x[i] - mean) * inv * w[i] + b[i];
}

__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) void rms_norm_row(const float* x, int dim,
                                                                                const float* w, float eps, float* y) {
  float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
  for (int i = 0; i < dim; ++i) ss += x[i] * x[i];
  const float inv = 1.0f / std::sqrt(ss / static_cast<float>(dim) + eps);
#pragma omp simd
  for (int i = 0; i < dim; ++i) y[i] = w[i] * (x[i] * inv);
}

}  // namespace

void layer_norm(const float* x, int rows, int dim, const float* w, const float* b, float eps, float* y) {
  for_each_row(rows, dim, [&](int r) {
    layer_norm_row(x + static_cast<std::size_t>(r) * dim, dim, w, b, eps, y + static_cast<std::size_t>(r) * dim);
  });
}

void rms_norm(const float* x, int rows, int dim, const float* w, float eps, float* y) {
  for_each_row(rows, dim, [&](int r) {
    rms_norm_row(x + static_cast<std::size_t>(r) * dim, dim, w, eps, y + static_cast<std::size_t>(r) * dim);
  });
}

}  // namespace folio::engine::kernels
