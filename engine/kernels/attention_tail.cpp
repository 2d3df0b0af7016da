#include "engine/kernels/attention_tail.hpp"

#include <immintrin.h>

#include <algorithm>
#include <bit>
#include <cstdint>

#include "engine/kernels/vector_math_avx512.hpp"

namespace folio::engine::kernels {
namespace {

// Portable loops, one row at a time (any strides, any head size).
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) void scores_row(const float* q, const float* k,
                                                                                      int hd, std::size_t kds,
                                                                                      std::size_t kts, int tail,
                                                                                      float scale, float* out) {
  std::fill(out, out + tail, 0.0f);
  for (int t = 0; t < hd; ++t) {
    const float qt = q[t];
    const float* kt = k + t * kds;
    if (kts == 1) {
#pragma omp simd
      for (int j = 0; j < tail; ++j) out[j] += qt * kt[j];
    } else {
      for (int j = 0; j < tail; ++j) out[j] += qt * kt[j * kts];
    }
  }
#pragma omp simd
  for (int j = 0; j < tail; ++j) out[j] *= scale;
}

__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) void values_row(const float* w, const float* v,
                                                                                      int hd, std::size_t stride,
                                                                                      int tail, float inv, float* o) {
  for (int j = 0; j < tail; ++j) {
    const float* vj = v + j * stride;
#pragma omp simd
    for (int t = 0; t < hd; ++t) o[t] += w[j] * vj[t];
  }
#pragma omp simd
  for (int t = 0; t < hd; ++t) o[t] *= inv;
}

// A bf16 value (its bits) as a float.
inline float float_of(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

// The portable loops for bf16 tails (token-major K): row by row, key by key.
void scores_row_bf16(const float* q, const std::uint16_t* k, int hd, std::size_t kts, int tail, float scale, float* out) {
  for (int j = 0; j < tail; ++j) {
    float sum = 0.0f;
    for (int t = 0; t < hd; ++t) sum += q[t] * float_of(k[j * kts + t]);
    out[j] = sum * scale;
  }
}

void values_row_bf16(const float* w, const std::uint16_t* v, int hd, std::size_t stride, int tail, float inv, float* o) {
  for (int j = 0; j < tail; ++j)
    for (int t = 0; t < hd; ++t) o[t] += w[j] * float_of(v[j * stride + t]);
  for (int t = 0; t < hd; ++t) o[t] *= inv;
}

#define FOLIO_AVX512 __attribute__((target("avx512f")))

// 16 consecutive values as floats: f32 as they are, bf16 widened (its bits are a float's upper half).
FOLIO_AVX512 inline __m512 load16(const float* p) { return _mm512_loadu_ps(p); }
FOLIO_AVX512 inline __m512 load16(const std::uint16_t* p) {
  const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  // (The zero-masked forms: GCC 12's plain ones start from an undefined vector and trip -Wmaybe-uninitialized.)
  return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(0xffff, _mm512_maskz_cvtepu16_epi32(0xffff, b), 16));
}

// N rows against 64 keys at a time (four vectors of 16, the last ones masked), one dimension per step.
template <int N>
FOLIO_AVX512 void scores_rows(const float* const* q, const float* k, int hd, std::size_t kds, int tail, float scale,
                              float* const* s) {
  for (int j0 = 0; j0 < tail; j0 += 64) {
    __mmask16 m[4];
    for (int b = 0; b < 4; ++b) {
      const int n = std::clamp(tail - j0 - 16 * b, 0, 16);
      m[b] = static_cast<__mmask16>((1u << n) - 1);
    }
    __m512 acc[N][4];
    for (int r = 0; r < N; ++r)
      for (int b = 0; b < 4; ++b) acc[r][b] = _mm512_setzero_ps();
    for (int t = 0; t < hd; ++t) {
      const float* kt = k + t * kds + j0;
      __m512 kv[4];
      for (int b = 0; b < 4; ++b) kv[b] = _mm512_maskz_loadu_ps(m[b], kt + 16 * b);
      for (int r = 0; r < N; ++r) {
        const __m512 qb = _mm512_set1_ps(q[r][t]);
        for (int b = 0; b < 4; ++b) acc[r][b] = _mm512_fmadd_ps(qb, kv[b], acc[r][b]);
      }
    }
    const __m512 sc = _mm512_set1_ps(scale);
    for (int r = 0; r < N; ++r)
      for (int b = 0; b < 4; ++b) _mm512_mask_storeu_ps(s[r] + j0 + 16 * b, m[b], _mm512_mul_ps(acc[r][b], sc));
  }
}

// N rows against token-major keys (rows kts apart), HB vectors of 16 dims (hd = 16 HB): each key's vectors
// are loaded once for the N rows, each dot product ends in one horizontal sum.
// (GCC 12's reduction intrinsics start from an undefined vector and trip -Wmaybe-uninitialized.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
template <int N, int HB, typename T>
FOLIO_AVX512 void scores_rows_token_major(const float* const* q, const T* k, std::size_t kts, int tail, float scale,
                                          float* const* s) {
  __m512 qv[N][HB];
  const __m512 sc = _mm512_set1_ps(scale);
  for (int r = 0; r < N; ++r)
    for (int h = 0; h < HB; ++h) qv[r][h] = _mm512_mul_ps(_mm512_loadu_ps(q[r] + 16 * h), sc);
  for (int j = 0; j < tail; ++j) {
    const T* kj = k + j * kts;
    __m512 kv[HB];
    for (int h = 0; h < HB; ++h) kv[h] = load16(kj + 16 * h);
    for (int r = 0; r < N; ++r) {
      __m512 acc = _mm512_mul_ps(qv[r][0], kv[0]);
      for (int h = 1; h < HB; ++h) acc = _mm512_fmadd_ps(qv[r][h], kv[h], acc);
      s[r][j] = _mm512_reduce_add_ps(acc);
    }
  }
}
#pragma GCC diagnostic pop

// N rows of weights against the tail's V rows, HB vectors of 16 dims per row (hd = 16 HB).
template <int N, int HB, typename T>
FOLIO_AVX512 void values_rows(const float* const* w, const T* v, std::size_t stride, int tail, const float* inv,
                              float* const* o) {
  __m512 acc[N][HB];
  for (int r = 0; r < N; ++r)
    for (int h = 0; h < HB; ++h) acc[r][h] = _mm512_setzero_ps();
  for (int j = 0; j < tail; ++j) {
    const T* vj = v + j * stride;
    __m512 vv[HB];
    for (int h = 0; h < HB; ++h) vv[h] = load16(vj + 16 * h);
    for (int r = 0; r < N; ++r) {
      const __m512 wb = _mm512_set1_ps(w[r][j]);
      for (int h = 0; h < HB; ++h) acc[r][h] = _mm512_fmadd_ps(wb, vv[h], acc[r][h]);
    }
  }
  for (int r = 0; r < N; ++r) {
    const __m512 s = _mm512_set1_ps(inv[r]);
    for (int h = 0; h < HB; ++h)
      _mm512_storeu_ps(o[r] + 16 * h, _mm512_mul_ps(_mm512_add_ps(_mm512_loadu_ps(o[r] + 16 * h), acc[r][h]), s));
  }
}
#undef FOLIO_AVX512

// Rows in blocks of up to Max (what the 32 vector registers hold), the rest one block size down.
template <int Max, typename F>
void in_blocks(int n, F&& run) {
  int r = 0;
  for (; r + Max <= n; r += Max) run(std::integral_constant<int, Max>{}, r);
  if constexpr (Max > 1)
    if (r < n) in_blocks<Max / 2>(n - r, [&](auto b, int r0) { run(b, r + r0); });
}

// The token-major kernels for K or V of either type (hd 64 or 128 on AVX-512), else false.
template <typename T>
bool token_major_scores(const float* const* q, int n, const T* k, int hd, std::size_t kts, int tail, float scale,
                        float* const* s) {
  if (!cpu_has_avx512() || (hd != 64 && hd != 128)) return false;
  if (hd == 64)
    in_blocks<4>(n, [&](auto b, int r0) {
      scores_rows_token_major<decltype(b)::value, 4>(q + r0, k, kts, tail, scale, s + r0);
    });
  else
    in_blocks<2>(n, [&](auto b, int r0) {
      scores_rows_token_major<decltype(b)::value, 8>(q + r0, k, kts, tail, scale, s + r0);
    });
  return true;
}

template <typename T>
bool token_major_values(const float* const* w, int n, const T* v, int hd, std::size_t stride, int tail,
                        const float* inv, float* const* o) {
  if (!cpu_has_avx512() || (hd != 64 && hd != 128)) return false;
  if (hd == 64)
    in_blocks<4>(n, [&](auto b, int r0) { values_rows<decltype(b)::value, 4>(w + r0, v, stride, tail, inv + r0, o + r0); });
  else
    in_blocks<2>(n, [&](auto b, int r0) { values_rows<decltype(b)::value, 8>(w + r0, v, stride, tail, inv + r0, o + r0); });
  return true;
}

}  // namespace

void tail_scores(const float* const* q, int n, const float* k, int hd, std::size_t kds, std::size_t kts, int tail,
                 float scale, float* const* s) {
  if (tail <= 0) return;
  if (kts == 1 && cpu_has_avx512()) {
    in_blocks<4>(n, [&](auto b, int r0) { scores_rows<decltype(b)::value>(q + r0, k, hd, kds, tail, scale, s + r0); });
    return;
  }
  if (kds == 1 && token_major_scores(q, n, k, hd, kts, tail, scale, s)) return;
  for (int r = 0; r < n; ++r) scores_row(q[r], k, hd, kds, kts, tail, scale, s[r]);
}

void tail_scores(const float* const* q, int n, const std::uint16_t* k, int hd, std::size_t kts, int tail, float scale,
                 float* const* s) {
  if (tail <= 0 || token_major_scores(q, n, k, hd, kts, tail, scale, s)) return;
  for (int r = 0; r < n; ++r) scores_row_bf16(q[r], k, hd, kts, tail, scale, s[r]);
}

void tail_values(const float* const* w, int n, const float* v, int hd, std::size_t stride, int tail, const float* inv,
                 float* const* o) {
  if (token_major_values(w, n, v, hd, stride, tail, inv, o)) return;
  for (int r = 0; r < n; ++r) values_row(w[r], v, hd, stride, tail, inv[r], o[r]);
}

void tail_values(const float* const* w, int n, const std::uint16_t* v, int hd, std::size_t stride, int tail,
                 const float* inv, float* const* o) {
  if (token_major_values(w, n, v, hd, stride, tail, inv, o)) return;
  for (int r = 0; r < n; ++r) values_row_bf16(w[r], v, hd, stride, tail, inv[r], o[r]);
}

}  // namespace folio::engine::kernels
