// AVX-512 pieces shared by the hand-vectorised kernels (attention softmax, activations, int8 epilogues).
// Callers are compiled for AVX-512 (target attributes) and check the CPU first (cpu_has_avx512).
#pragma once

#include <immintrin.h>

// (GCC 12's own intrinsics start from an undefined vector and trip -Wmaybe-uninitialized: silenced here.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace folio::engine::kernels {

// Whether this CPU runs the hand-vectorised AVX-512 loops: F, BW and VL (every AVX-512 CPU since Skylake-SP
// and Zen 4 has all three; the byte and 256-bit forms need the last two).
inline bool cpu_has_avx512() {
  static const bool yes = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl");
  return yes;
}

// log2(e): what callers of exp2_parts fold into their scales.
constexpr float kLog2e = 1.44269504f;

// An exponential as p * 2^n (apply with _mm512_scalef_ps(p, n)).
struct ExpParts {
  __m512 p, n;
};

// scale * 2^x as p * 2^n for an argument in base 2 (callers fold log2(e) into their own scales): n = round(x),
// p = scale * 2^r on |r| <= 1/2 as a degree-4 minimax polynomial (its coefficients times the constant scale),
// relative error < 2.7e-6: enough for 16-bit softmax weights, for sigmoids rounded to 8 or 16 bits next and
// for softmax sums. Against e^x with n = round(x / ln2) and a degree-5 Taylor polynomial on |r| <= ln2/2 (what
// this replaced), three operations fewer for 16 values: no multiply by 1/ln2, one step of range reduction
// (x - n is exact), one power fewer.
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
