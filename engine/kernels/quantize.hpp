// Symmetric int8 quantisation: one scale per row (activations, per token, at run time) or per output
// channel (weights, once at load). q = round(x / scale), scale = max|x| / 127, so q is in [-127, 127].
#pragma once

#include <cstdint>

namespace folio::engine::kernels {

// x: [rows, cols] with rows `stride` floats apart; q: [rows, cols] dense; scales: [rows].
// A row of zeros gets scale 0 and q 0 (its products are then exactly 0).
void quantize_rows_s8(const float* x, int rows, int cols, int stride, std::int8_t* q, float* scales);
// One row, in place (no thread team: for callers already inside one); returns the sum of q, which a
// product against u8 values with a zero point needs.
std::int32_t quantize_row_s8(const float* x, int cols, std::int8_t* q, float* scale);

}  // namespace folio::engine::kernels

namespace folio::engine::kernels {

// Weights, once at load: one scale per output row, chosen among clipping ratios of max|w| to minimise
// the row's squared rounding error (a few large weights otherwise coarsen the step for all the rest).
void quantize_weights_s8(const float* w, int rows, int cols, std::int8_t* q, float* scales);

// Activations, per token: asymmetric u8 over [min(x, 0), max(x, 0)] with a zero point, so one-sided
// rows (after GELU or SiLU) get the full 256 levels. x = scale * (q - zero_point).
void quantize_rows_u8(const float* x, int rows, int cols, int stride, std::uint8_t* q, float* scales,
                      std::int32_t* zero_points);
// One row whose range [lo, hi] = [min(x, 0), max(x, 0)] its producer already knows (gelu_tanh_in_place):
// the same bytes as quantize_rows_u8, without its pass over the row for the range.
void quantize_row_u8_in_range(const float* x, int cols, float lo, float hi, std::uint8_t* q, float* scale,
                              std::int32_t* zero_point);

}  // namespace folio::engine::kernels

namespace folio::engine::kernels {

// Two u8 planes per token: the plane above, and its rounding residual quantised again with 1/255 of
// its step around a zero point of 128: x = s * (hi - zp) + (s / 255) * (lo - 128), good to about
// 16 bits. One matmul over both planes (twice the rows) reads the weights once.
void quantize_rows_u8_planes(const float* x, int rows, int cols, int stride, std::uint8_t* hi, std::uint8_t* lo,
                             float* scales, std::int32_t* zero_points);

}  // namespace folio::engine::kernels

namespace folio::engine::kernels {

// One u8 plane per token, and the residual plane (as above) only for tokens whose values spread far beyond
// their RMS: (max - min) / rms above kSpreadForSecondPlane. A Gaussian-like row of hundreds of values
// spreads about 5-8 RMS and keeps 8 bits with little loss; a token with an outlier channel (the "massive
// activations" of real LLMs) would flatten every other channel into a few levels, so it gets 16 bits.
// The residual planes of the tokens that have one are stacked, in token order, from `lo`; lo_of[r] is
// token r's index among them, or -1. Returns how many there are.
constexpr float kSpreadForSecondPlane = 12.0f;
int quantize_rows_u8_adaptive(const float* x, int rows, int cols, int stride, std::uint8_t* hi, std::uint8_t* lo,
                              float* scales, std::int32_t* zero_points, int* lo_of);

}  // namespace folio::engine::kernels
