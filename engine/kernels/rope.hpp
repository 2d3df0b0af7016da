// Rotary position embeddings, Llama's half-split ("rotate_half") form.
#pragma once

#include <vector>

namespace folio::engine::kernels {

// Per-frequency inverse periods theta^(-2i/head_dim), i < head_dim/2, computed in float32 as HF does.
std::vector<float> rope_inv_freq(int head_dim, float theta);

// Rotates `rows` rows of `heads` vectors of head_dim each (rows `row_stride` floats apart), row r being
// at position first_position + r: v'[i] = v[i] cos - v[i+h/2] sin, v'[i+h/2] = v[i+h/2] cos + v[i] sin.
void apply_rope(float* x, int rows, int row_stride, int heads, int head_dim, int first_position,
                const std::vector<float>& inv_freq);
// The same with row r at positions[r] (rows of several sequences decoded together).
void apply_rope(float* x, int rows, int row_stride, int heads, int head_dim, const int* positions,
                const std::vector<float>& inv_freq);

}  // namespace folio::engine::kernels
