// The Idefics3 connector (spec section 5): pixel shuffle of each frame's patch grid, then one
// bias-free projection into the text model's hidden size.
#pragma once

#include <vector>

#include "engine/io/safetensors.hpp"
#include "engine/kernels/linear.hpp"
#include "engine/model/config.hpp"

namespace folio::engine {

class Connector {
 public:
  Connector(const ModelConfig& config, const WeightFiles& weights, kernels::Precision precision);

  // vision: [frames * num_patches, vision hidden] -> [frames * tokens_per_tile, text hidden].
  std::vector<float> forward(const float* vision, int frames) const;
  // The shuffle alone, for one frame: [tokens_per_tile, vision hidden * s^2] (tests compare it).
  std::vector<float> shuffle(const float* vision_frame) const;
  std::size_t weight_bytes() const { return proj_.weight_bytes(); }

 private:
  ModelConfig config_;
  kernels::Linear proj_;
};

}  // namespace folio::engine
