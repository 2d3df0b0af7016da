// Symmetric int8 quantisation: one scale per row (activations, per token, at run time) or per output
// channel (weights, once at load). q = round(x / scale), scale = max|x| / 127, so q is in [-127, 127].
#pragma once

#include <cstdint>

namespace folio::engine::kernels {

// x: [rows, cols] with rows `stride` floats apart; q: [rows, cols] dense; scales: [rows].
// A row of zeros gets scale 0 and q 0 (its products are then exactly 0).
void quantize_rows_s8(const float* x, int rows, int cols, int stride, std::int8_t* q, float* scales);

}  // namespace folio::engine::kernels
