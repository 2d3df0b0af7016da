#include "engine/kernels/quantize.hpp"

#include "engine/kernels/parallel.hpp"
#include "engine/kernels/vector_math_avx512.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

namespace folio::engine::kernels {
namespace {

// Compiled for AVX-512, AVX2 and baseline; the loader picks the best the CPU has.
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) std::int32_t quantize_row(const float* x, int cols,
                                                                                        std::int8_t* q, float* scale) {
  float amax = 0.0f;
  for (int i = 0; i < cols; ++i) amax = std::max(amax, std::abs(x[i]));
  *scale = amax / 127.0f;
  const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
  // Round half to even through the float magic number (exact for |v| < 2^22), which vectorises.
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
  std::int32_t sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int i = 0; i < cols; ++i) {
    int v = static_cast<int>((x[i] * inv + kMagic) - kMagic);
    v = v < -127 ? -127 : (v > 127 ? 127 : v);
    q[i] = static_cast<std::int8_t>(v);
    sum += v;
  }
  return sum;
}

// The same for short rows (attention's per-query and per-key vectors: 64 values, some 300 thousand calls per
// tile of the vision encoder), in registers with one masked vector at the end: the generic loop's
// vectoriser prologue and epilogue cost more than its work at this size. Bit for bit the same result
// (vcvtps2dq rounds half to even, as the magic number does).
// (GCC 12's own reduction intrinsics start from an undefined vector and trip -Wmaybe-uninitialized.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
__attribute__((target("avx512f,avx512bw,avx512vl"))) std::int32_t quantize_short_row_avx512(const float* x, int cols, std::int8_t* q,
                                                                          float* scale) {
  __m512 amax = _mm512_setzero_ps();
  int j = 0;
  for (; j + 16 <= cols; j += 16) amax = _mm512_max_ps(amax, _mm512_abs_ps(_mm512_loadu_ps(x + j)));
  const __mmask16 tail = static_cast<__mmask16>((1u << (cols - j)) - 1);
  amax = _mm512_max_ps(amax, _mm512_abs_ps(_mm512_maskz_loadu_ps(tail, x + j)));
  const float m = _mm512_reduce_max_ps(amax);
  *scale = m / 127.0f;
  const __m512 inv = _mm512_set1_ps(m > 0.0f ? 127.0f / m : 0.0f);
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  __m512i sum = _mm512_setzero_si512();
  for (j = 0; j + 16 <= cols; j += 16) {
    const __m512i r = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + j), inv)), lo), hi);
    sum = _mm512_add_epi32(sum, r);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + j), _mm512_cvtepi32_epi8(r));
  }
  if (tail) {
    const __m512i r =
        _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(tail, x + j), inv)), lo), hi);
    sum = _mm512_add_epi32(sum, r);
    _mm_mask_storeu_epi8(q + j, tail, _mm512_cvtepi32_epi8(r));
  }
  return _mm512_reduce_add_epi32(sum);
}
#pragma GCC diagnostic pop

}  // namespace

std::int32_t quantize_row_s8(const float* x, int cols, std::int8_t* q, float* scale) {
  if (cols <= 256 && cpu_has_avx512()) return quantize_short_row_avx512(x, cols, q, scale);
  return quantize_row(x, cols, q, scale);
}

void quantize_rows_s8(const float* x, int rows, int cols, int stride, std::int8_t* q, float* scales) {
  for_each_row(rows, cols, [&](int r) {
    quantize_row(x + static_cast<std::size_t>(r) * stride, cols, q + static_cast<std::size_t>(r) * cols, scales + r);
  });
}

}  // namespace folio::engine::kernels

namespace folio::engine::kernels {
namespace {

// The residual plane's value of x, whose first plane took the value h: the rounding residual
// x - s (h - zp) in steps of s / 255 around 128 (inv_lo = 255 / s).
[[gnu::always_inline]] inline std::uint8_t residual_u8(float x, int h, float s, float zp, float inv_lo) {
  constexpr float kMagic = 12582912.0f;  // round half to even, vectorisable
  const float r = x - s * (static_cast<float>(h) - zp);
  const int w = static_cast<int>((r * inv_lo + kMagic) - kMagic) + 128;
  return static_cast<std::uint8_t>(w < 0 ? 0 : (w > 255 ? 255 : w));
}

// One token as u8 (and, with Planes, its residual plane `lo` in the same pass: see quantize.hpp). Returns
// the row's spread max(x, 0) - min(x, 0), which the adaptive planes below also need.
// With `range`, [min(x, 0), max(x, 0)] as its producer found it, instead of a pass over the row.
template <bool Planes>
[[gnu::always_inline]] inline float quantize_u8(const float* x, int cols, std::uint8_t* q, std::uint8_t* lo_plane,
                                                float* scale, std::int32_t* zero_point,
                                                const float* range = nullptr) {
  float lo = 0.0f, hi = 0.0f;
  if (range) {
    lo = range[0], hi = range[1];
  } else {
    for (int i = 0; i < cols; ++i) {
      lo = std::min(lo, x[i]);
      hi = std::max(hi, x[i]);
    }
  }
  const float s = (hi - lo) / 255.0f;
  *scale = s;
  if (s == 0.0f) {
    *zero_point = 0;
    std::fill(q, q + cols, std::uint8_t{0});
    if constexpr (Planes) std::fill(lo_plane, lo_plane + cols, std::uint8_t{128});
    return 0.0f;
  }
  const float inv = 1.0f / s, inv_lo = 255.0f / s;
  constexpr float kMagic = 12582912.0f;  // round half to even, vectorisable
  const float zp = (-lo * inv + kMagic) - kMagic;
  *zero_point = static_cast<std::int32_t>(zp);
  const int izp = static_cast<int>(zp);
#pragma omp simd
  for (int i = 0; i < cols; ++i) {
    // Clamped in integers: float min/max would keep the loop scalar.
    const int v = static_cast<int>((x[i] * inv + kMagic) - kMagic) + izp;
    const int h = v < 0 ? 0 : (v > 255 ? 255 : v);
    q[i] = static_cast<std::uint8_t>(h);
    if constexpr (Planes) lo_plane[i] = residual_u8(x[i], h, s, zp, inv_lo);  // h still in a register
  }
  return hi - lo;
}

__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) float quantize_row_u8(const float* x, int cols,
                                                                                    std::uint8_t* q, float* scale,
                                                                                    std::int32_t* zero_point) {
  return quantize_u8<false>(x, cols, q, nullptr, scale, zero_point);
}

__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) void quantize_row_u8_ranged(
    const float* x, int cols, const float* range, std::uint8_t* q, float* scale, std::int32_t* zero_point) {
  quantize_u8<false>(x, cols, q, nullptr, scale, zero_point, range);
}

__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) void quantize_row_u8_planes(
    const float* x, int cols, std::uint8_t* hi, std::uint8_t* lo, float* scale, std::int32_t* zero_point) {
  quantize_u8<true>(x, cols, hi, lo, scale, zero_point);
}

}  // namespace

namespace {

// A row quantised with step `s` (q = round(w / s) clipped to +-127): its squared rounding error, and the
// sums w·q and q·q whose ratio is the step that fits those q best (least squares). One vectorised pass.
struct RowFit {
  float err, wq, qq;
};

__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) RowFit row_fit(const float* row, int cols, float s) {
  constexpr float kMagic = 12582912.0f;
  const float inv = 1.0f / s;
  float err = 0.0f, wq = 0.0f, qq = 0.0f;
#pragma omp simd reduction(+ : err, wq, qq)
  for (int i = 0; i < cols; ++i) {
    const int iv = static_cast<int>((row[i] * inv + kMagic) - kMagic);
    const float q = static_cast<float>(iv < -127 ? -127 : (iv > 127 ? 127 : iv));
    const float d = row[i] - q * s;
    err += d * d;
    wq += row[i] * q;
    qq += q * q;
  }
  return {err, wq, qq};
}

// q = nearbyint(w * inv) clipped to +-127. A scalar nearbyint call per weight had been a tenth of a
// checkpoint's load; vcvtps2dq rounds half to even as nearbyint does in the default rounding mode, so the
// vector loop gives the same bytes (|w * inv| stays below 127 / 0.6 by the choice of scales: no overflow).
void round_row_s8_scalar(const float* row, int cols, float inv, std::int8_t* q, int from) {
  for (int i = from; i < cols; ++i)
    q[i] = static_cast<std::int8_t>(std::min(127.0f, std::max(-127.0f, std::nearbyint(row[i] * inv))));
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
__attribute__((target("avx512f,avx512bw"))) void round_row_s8_avx512(const float* row, int cols, float inv,
                                                                     std::int8_t* q) {
  const __m512 vinv = _mm512_set1_ps(inv);
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  int i = 0;
  for (; i + 16 <= cols; i += 16) {
    const __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(row + i), vinv));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + i), _mm512_cvtepi32_epi8(_mm512_min_epi32(_mm512_max_epi32(v, lo), hi)));
  }
  round_row_s8_scalar(row, cols, inv, q, i);
}
#pragma GCC diagnostic pop

void round_row_s8(const float* row, int cols, float inv, std::int8_t* q) {
  if (cpu_has_avx512()) return round_row_s8_avx512(row, cols, inv, q);
  round_row_s8_scalar(row, cols, inv, q, 0);
}

}  // namespace

void quantize_weights_s8(const float* w, int rows, int cols, std::int8_t* q, float* scales) {
#pragma omp parallel for schedule(dynamic, 16)
  for (int r = 0; r < rows; ++r) {
    const float* row = w + static_cast<std::size_t>(r) * cols;
    float amax = 0.0f;
    for (int i = 0; i < cols; ++i) amax = std::max(amax, std::abs(row[i]));  // vectorised (see CMakeLists)
    float best_scale = amax / 127.0f;
    float best_err = -1;
    // From each clipping ratio of max|w|, the step is refitted to its own rounding by least squares
    // (s = w·q / q·q) and the rounding redone, twice: a local optimum of the row's squared error. A few
    // large weights otherwise coarsen the step for the rest, and a step that merely clips leaves the
    // rounding of the others to chance (with 9 plain ratios the reference cases' int8 logits were at
    // 2.5-2.6% relative L2; with the refits, below).
    for (int start = 0; start <= 8 && amax > 0; ++start) {
      float s = amax * (1.0f - 0.05f * start) / 127.0f;
      for (int fit = 0; fit < 3; ++fit) {
        const RowFit f = row_fit(row, cols, s);
        if (best_err < 0 || f.err < best_err) {
          best_err = f.err;
          best_scale = s;
        }
        if (!(f.qq > 0.0f)) break;
        const float next = f.wq / f.qq;
        if (!(next > 0.0f) || next == s) break;
        s = next;
      }
    }
    scales[r] = best_scale;
    round_row_s8(row, cols, best_scale > 0 ? 1.0f / best_scale : 0.0f, q + static_cast<std::size_t>(r) * cols);
  }
}

void quantize_row_u8_in_range(const float* x, int cols, float lo, float hi, std::uint8_t* q, float* scale,
                              std::int32_t* zero_point) {
  const float range[2] = {lo, hi};
  quantize_row_u8_ranged(x, cols, range, q, scale, zero_point);
}

void quantize_rows_u8(const float* x, int rows, int cols, int stride, std::uint8_t* q, float* scales,
                      std::int32_t* zero_points) {
  for_each_row(rows, cols, [&](int r) {
    quantize_row_u8(x + static_cast<std::size_t>(r) * stride, cols, q + static_cast<std::size_t>(r) * cols, scales + r,
                    zero_points + r);
  });
}

}  // namespace folio::engine::kernels

namespace folio::engine::kernels {
namespace {

__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) void residual_plane(const float* x, int cols,
                                                                                  const std::uint8_t* hi, float scale,
                                                                                  std::int32_t zp, std::uint8_t* lo) {
  const float inv = scale > 0.0f ? 255.0f / scale : 0.0f;
  const float z = static_cast<float>(zp);
#pragma omp simd
  for (int i = 0; i < cols; ++i) lo[i] = residual_u8(x[i], hi[i], scale, z, inv);
}

}  // namespace

void quantize_rows_u8_planes(const float* x, int rows, int cols, int stride, std::uint8_t* hi, std::uint8_t* lo,
                             float* scales, std::int32_t* zero_points) {
  for_each_row(rows, cols, [&](int r) {
    quantize_row_u8_planes(x + static_cast<std::size_t>(r) * stride, cols, hi + static_cast<std::size_t>(r) * cols,
                           lo + static_cast<std::size_t>(r) * cols, scales + r, zero_points + r);
  });
}

}  // namespace folio::engine::kernels

namespace folio::engine::kernels {
namespace {

// The sum of squares of a row, vectorised.
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) float sum_of_squares(const float* x, int cols) {
  float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
  for (int i = 0; i < cols; ++i) ss += x[i] * x[i];
  return ss;
}

}  // namespace

int quantize_rows_u8_adaptive(const float* x, int rows, int cols, int stride, std::uint8_t* hi, std::uint8_t* lo,
                              float* scales, std::int32_t* zero_points, int* lo_of) {
  for_each_row(rows, cols, [&](int r) {
    const float* xr = x + static_cast<std::size_t>(r) * stride;
    const float range = quantize_row_u8(xr, cols, hi + static_cast<std::size_t>(r) * cols, scales + r, zero_points + r);
    // range / rms > T, without a square root: range^2 * cols > T^2 * sum of squares.
    lo_of[r] = range * range * static_cast<float>(cols) >
                       kSpreadForSecondPlane * kSpreadForSecondPlane * sum_of_squares(xr, cols)
                   ? 1
                   : -1;
  });
  int n = 0;
  for (int r = 0; r < rows; ++r)
    if (lo_of[r] >= 0) lo_of[r] = n++;
  for (int r = 0; r < rows; ++r)
    if (lo_of[r] >= 0)
      residual_plane(x + static_cast<std::size_t>(r) * stride, cols, hi + static_cast<std::size_t>(r) * cols, scales[r],
                     zero_points[r], lo + static_cast<std::size_t>(lo_of[r]) * cols);
  return n;
}

}  // namespace folio::engine::kernels
