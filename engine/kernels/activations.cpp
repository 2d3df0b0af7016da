#include "engine/kernels/activations.hpp"

#include <cstddef>

#include "engine/kernels/parallel.hpp"
#include "engine/kernels/vector_math.hpp"

namespace folio::engine::kernels {
namespace {

__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) void silu_gate_row(const float* g, int width, float* o) {
#pragma omp simd
  for (int i = 0; i < width; ++i) o[i] = silu(g[i]) * g[width + i];
}

}  // namespace

void silu_gate(const float* gate_up, int rows, int width, float* out) {
  for_each_row(rows, 3 * width, [&](int r) {
    silu_gate_row(gate_up + static_cast<std::size_t>(r) * 2 * width, width, out + static_cast<std::size_t>(r) * width);
  });
}

}  // namespace folio::engine::kernels
