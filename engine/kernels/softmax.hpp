// The exponential half of a softmax over one row of scores, vectorised: what attention spends its
// non-matmul time on. Inputs must be finite (masked scores are written as -1e30, not -inf).
#pragma once

namespace folio::engine::kernels {

// x[i] = exp(x[i] - max(x)); returns {max, sum of the new x}. n > 0.
struct ExpSum {
  float max;
  float sum;
};
ExpSum exp_minus_max(float* x, int n);

}  // namespace folio::engine::kernels
