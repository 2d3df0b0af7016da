// Normalisations over the last dimension of a row-major [rows, dim] matrix, in float32.
#pragma once

namespace folio::engine::kernels {

// y = (x - mean) / sqrt(var + eps) * w + b (biased variance), as torch.nn.LayerNorm. y may alias x.
void layer_norm(const float* x, int rows, int dim, const float* w, const float* b, float eps, float* y);
// y = x / sqrt(mean(x^2) + eps) * w, as LlamaRMSNorm. y may alias x.
void rms_norm(const float* x, int rows, int dim, const float* w, float eps, float* y);

}  // namespace folio::engine::kernels
