// The Idefics3 connector's pixel shuffle: each s x s window of patch features becomes one token.
#pragma once

namespace folio::engine::kernels {

// x: [n*n, dim] patch features of one frame (row-major grid); y: [(n/s)^2, dim*s*s] with
// y[t = h*(n/s) + w][r*s*dim + c*dim + d] = x[(h*s + r)*n + (w*s + c)][d].
void pixel_shuffle(const float* x, int n, int dim, int s, float* y);

}  // namespace folio::engine::kernels
