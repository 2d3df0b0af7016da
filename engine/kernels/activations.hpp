// Elementwise activations that are not fused into a linear layer's epilogue.
#pragma once

namespace folio::engine::kernels {

// The SiLU-gated MLP's middle: out[r, i] = silu(gate_up[r, i]) * gate_up[r, width + i], where each row of
// gate_up holds the gate projection then the up projection (one fused matmul).
void silu_gate(const float* gate_up, int rows, int width, float* out);

}  // namespace folio::engine::kernels
