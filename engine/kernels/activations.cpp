#include "engine/kernels/activations.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cstddef>

#include "engine/kernels/parallel.hpp"
#include "engine/kernels/vector_math.hpp"
#include "engine/kernels/vector_math_avx512.hpp"

namespace folio::engine::kernels {
namespace {

__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) void silu_gate_row(const float* g, const float* u,
                                                                                   int n, float* o) {
#pragma omp simd
  for (int i = 0; i < n; ++i) o[i] = silu(g[i]) * u[i];
}

__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) void gelu_row(float* t, int n) {
#pragma omp simd
  for (int i = 0; i < n; ++i) t[i] = gelu_tanh(t[i]);
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#define FOLIO_AVX512 __attribute__((target("avx512f"), always_inline)) inline

// 1 / (1 + 2^z) for z clamped to [-126, 115] (e^z to [-87, 80]: beyond, the result is 1 or 0 to float
// precision anyway). The callers fold log2(e) into their own constants (exp2_parts: no range reduction by
// ln 2, a degree-4 polynomial).
FOLIO_AVX512 __m512 inverse_one_plus_exp2(__m512 z) {
  z = _mm512_min_ps(_mm512_max_ps(z, _mm512_set1_ps(-126.0f)), _mm512_set1_ps(115.0f));
  const ExpParts e = exp2_parts(z);
  const __m512 d = _mm512_add_ps(_mm512_set1_ps(1.0f), _mm512_scalef_ps(e.p, e.n));
  const __m512 y = _mm512_rcp14_ps(d);
  return _mm512_mul_ps(y, _mm512_fnmadd_ps(d, y, _mm512_set1_ps(2.0f)));  // y (2 - d y)
}

// x sigmoid(x) = x / (1 + 2^(-x log2(e))).
FOLIO_AVX512 __m512 silu16(__m512 x) {
  return _mm512_mul_ps(x, inverse_one_plus_exp2(_mm512_mul_ps(_mm512_set1_ps(-kLog2e), x)));
}

// x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3): vector_math.hpp's gelu_tanh, as x / (1 + 2^z) with
// z = x (c1 + c2 x^2), the constants -2 sqrt(2/pi) log2(e) and that times 0.044715 (three operations for z).
FOLIO_AVX512 __m512 gelu16(__m512 x) {
  constexpr float c1 = -2.0f * 0.7978845608f * kLog2e, c2 = c1 * 0.044715f;
  const __m512 p = _mm512_fmadd_ps(_mm512_mul_ps(x, x), _mm512_set1_ps(c2), _mm512_set1_ps(c1));
  return _mm512_mul_ps(x, inverse_one_plus_exp2(_mm512_mul_ps(x, p)));
}
#undef FOLIO_AVX512

__attribute__((target("avx512f"))) void silu_gate_avx512(const float* g, const float* u, int n, float* o) {
  int i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(o + i, _mm512_mul_ps(silu16(_mm512_loadu_ps(g + i)), _mm512_loadu_ps(u + i)));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(o + i, m, _mm512_mul_ps(silu16(_mm512_maskz_loadu_ps(m, g + i)), _mm512_maskz_loadu_ps(m, u + i)));
  }
}

// With a range (lo, hi), the outputs' min and max with 0 too (the masked lanes of a partial vector are 0).
template <bool Range>
__attribute__((target("avx512f"))) void gelu_tanh_in_place_avx512(float* t, int n, float* lo, float* hi) {
  __m512 vlo = _mm512_setzero_ps(), vhi = _mm512_setzero_ps();
  auto track = [&](__m512 g) __attribute__((target("avx512f"), always_inline)) {
    if constexpr (Range) vlo = _mm512_min_ps(vlo, g), vhi = _mm512_max_ps(vhi, g);
    return g;
  };
  int i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(t + i, track(gelu16(_mm512_loadu_ps(t + i))));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(t + i, m, track(gelu16(_mm512_maskz_loadu_ps(m, t + i))));
  }
  if constexpr (Range) *lo = _mm512_reduce_min_ps(vlo), *hi = _mm512_reduce_max_ps(vhi);
}
#pragma GCC diagnostic pop

}  // namespace

void silu_gate(const float* gate_up, int rows, int width, float* out) {
  for_each_row(rows, 3 * width, [&](int r) {
    const float* g = gate_up + static_cast<std::size_t>(r) * 2 * width;
    silu_gate_row(g, g + width, width, out + static_cast<std::size_t>(r) * width);
  });
}

void silu_gate_in_place(float* t, int width) { silu_gate_pairs(t, t + width, width, t); }

void silu_gate_pairs(const float* gate, const float* up, int n, float* out) {
  if (cpu_has_avx512()) return silu_gate_avx512(gate, up, n, out);
  silu_gate_row(gate, up, n, out);
}

void gelu_tanh_in_place(float* t, int n) {
  if (cpu_has_avx512()) return gelu_tanh_in_place_avx512<false>(t, n, nullptr, nullptr);
  gelu_row(t, n);
}

void gelu_tanh_in_place(float* t, int n, float& lo, float& hi) {
  if (cpu_has_avx512()) return gelu_tanh_in_place_avx512<true>(t, n, &lo, &hi);
  gelu_row(t, n);
  lo = hi = 0.0f;
  for (int i = 0; i < n; ++i) lo = std::min(lo, t[i]), hi = std::max(hi, t[i]);
}

}  // namespace folio::engine::kernels
