#include "engine/kernels/softmax.hpp"

#include "engine/kernels/vector_math.hpp"

namespace folio::engine::kernels {
namespace {

__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) ExpSum exp_minus_max_impl(float* x, int n) {
  float mx = x[0];
  for (int i = 1; i < n; ++i) mx = mx > x[i] ? mx : x[i];
  for (int i = 0; i < n; ++i) x[i] = exp_approx(x[i] - mx);
  float sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int i = 0; i < n; ++i) sum += x[i];
  return {mx, sum};
}

}  // namespace

ExpSum exp_minus_max(float* x, int n) { return exp_minus_max_impl(x, n); }

}  // namespace folio::engine::kernels
