// AVX-512 pieces shared by the hand-vectorised kernels (attention softmax, activations). Callers are
// compiled for AVX-512 (target attributes) and check the CPU first.
#pragma once

#include <immintrin.h>

// (GCC 12's own intrinsics start from an undefined vector and trip -Wmaybe-uninitialized: silenced here.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace folio::engine::kernels {

// e^x as p * 2^n (apply with _mm512_scalef_ps(p, n)): n = round(x / ln2), p = e^r on |r| <= ln2/2 as a
// degree-5 Taylor polynomial, relative error < 3e-6 (enough for 16-bit softmax weights and for the
// sigmoids of activations that are rounded to 8 or 16 bits next).
struct ExpParts {
  __m512 p, n;
};
__attribute__((target("avx512f"), always_inline)) inline ExpParts exp_parts(__m512 x) {
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x));
  __m512 p = _mm512_set1_ps(1.0f / 120.0f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return {p, n};
}

// scale * 2^x as p * 2^n, the same way for an argument already in base 2 (the attention softmax folds log2(e)
// into its scale): n = round(x), p = scale * 2^r on |r| <= 1/2 as a degree-4 minimax polynomial (its
// coefficients times the constant scale), relative error < 2.7e-6. Three operations fewer than exp_parts for
// 16 values: no multiply by 1/ln2, one step of range reduction (x - n is exact), one power fewer.
__attribute__((target("avx512f"), always_inline)) inline ExpParts exp2_parts(__m512 x, float scale = 1.0f) {
  const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 r = _mm512_sub_ps(x, n);
  __m512 p = _mm512_set1_ps(0.009570102207362652f * scale);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.05591785907745361f * scale));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.240247443318367f * scale));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.6931217908859253f * scale));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.9999992847442627f * scale));
  return {p, n};
}

}  // namespace folio::engine::kernels

#pragma GCC diagnostic pop
