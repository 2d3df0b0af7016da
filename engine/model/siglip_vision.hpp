// The SigLIP vision encoder of Idefics3 / SmolVLM (spec section 4): patch embedding, position
// embeddings, pre-LN transformer blocks with bidirectional attention and a tanh-GELU MLP, post-LN.
#pragma once

#include <vector>

#include "engine/io/safetensors.hpp"
#include "engine/kernels/attention.hpp"
#include "engine/kernels/linear.hpp"
#include "engine/model/config.hpp"

namespace folio::engine {

class VisionEncoder {
 public:
  VisionEncoder(const VisionConfig& config, const WeightFiles& weights, kernels::Precision precision);

  // pixel_values: [frames, 3, T, T] float32. Returns [frames * num_patches, hidden] after post_layernorm.
  std::vector<float> forward(const float* pixel_values, int frames) const;

  const VisionConfig& config() const { return config_; }
  std::size_t weight_bytes() const;  // prepared weights held (linears as packed, the rest f32)

 private:
  struct Layer {
    std::vector<float> ln1_w, ln1_b, ln2_w, ln2_b;
    kernels::Linear qkv, out, fc1, fc2;  // q, k and v are one fused projection
  };
  void encode_frames(const float* pixel_values, int frames, float* out) const;

  VisionConfig config_;
  kernels::AttentionProducts attention_products_ = kernels::AttentionProducts::F32;
  kernels::Linear patch_embedding_;  // the stride-P convolution as a matmul over flattened (c, i, j) patches
  std::vector<float> position_embedding_;
  std::vector<Layer> layers_;
  std::vector<float> post_ln_w_, post_ln_b_;
};

}  // namespace folio::engine
