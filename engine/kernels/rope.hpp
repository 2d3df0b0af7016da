// Rotary position embeddings, Llama's half-split ("rotate_half") form.
#pragma once

#include <vector>

namespace folio::engine::kernels {

// Per-frequency inverse periods theta^(-2i/head_dim), i < head_dim/2, computed in float32 as HF does.
std::vector<float> rope_inv_freq(int head_dim, float theta);

// The cos and sin of every row's angles (position x inverse period, in float32 as HF computes them), made
// once per forward pass: every layer's Q and K rotate by the same angles.
struct RopeAngles {
  int rows = 0, half = 0;
  std::vector<float> cos, sin;  // [rows, half]
};
RopeAngles rope_angles(const int* positions, int rows, const std::vector<float>& inv_freq);

// Rotates `heads` vectors of head_dim (= 2 half) each in every row (rows `row_stride` floats apart) by
// that row's angles: v'[i] = v[i] cos - v[i+h/2] sin, v'[i+h/2] = v[i+h/2] cos + v[i] sin.
void apply_rope(float* x, int row_stride, int heads, const RopeAngles& angles);
// The same with row r at position first_position + r.
void apply_rope(float* x, int rows, int row_stride, int heads, int first_position, const std::vector<float>& inv_freq);

}  // namespace folio::engine::kernels
