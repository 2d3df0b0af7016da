// Elementwise activations that are not fused into a linear layer's epilogue.
#pragma once

namespace folio::engine::kernels {

// The SiLU-gated MLP's middle: out[r, i] = silu(gate_up[r, i]) * gate_up[r, width + i], where each row of
// gate_up holds the gate projection then the up projection (one fused matmul).
void silu_gate(const float* gate_up, int rows, int width, float* out);

// One row in place, for an int8 MLP's row buffer (linear_int8.cpp): t[i] = silu(t[i]) * t[width + i], and
// t[i] = gelu_tanh(t[i]). On AVX-512 the sigmoid's division is a reciprocal estimate with one Newton step
// (a vector division is the slowest instruction of the loop) and 2^x a degree-4 polynomial: a few
// float ulps, far below the int8 rounding that follows.
void silu_gate_in_place(float* t, int width);
// out[i] = silu(gate[i]) * up[i], with silu_gate_in_place's arithmetic (the same values, bit for bit): for
// an int8 MLP whose epilogue gates each panel of gate columns with its up panel as they come.
void silu_gate_pairs(const float* gate, const float* up, int n, float* out);
void gelu_tanh_in_place(float* t, int n);
// The same, also giving the row's range [min(t, 0), max(t, 0)] after it, as the u8 quantiser needs it
// (quantize_row_u8_in_range): the quantiser then does not read the row once more for it.
void gelu_tanh_in_place(float* t, int n, float& lo, float& hi);

}  // namespace folio::engine::kernels
