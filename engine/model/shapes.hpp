// The geometry of the published SmolVLM checkpoints (spec section 2), for benchmarks and `folio bench`
// on generated weights: real models are always read from their own config.json, never from here.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/model/config.hpp"

namespace folio::engine {

// "smolvlm-256m", "smolvlm-500m", "smolvlm-2.2b" (SmolVLM2-2.2B), "smolvlm-instruct" (v1, 2.2B).
// Throws folio::Error (Usage) listing the known names for any other.
ModelConfig published_shape(std::string_view name);
std::vector<std::string> published_shape_names();

// The image processor's longest edge and tile size for that shape (2048/512 or 1536/384).
struct TileGeometry {
  int longest_edge = 0;
  int tile_size = 0;
};
TileGeometry published_tiling(std::string_view name);

}  // namespace folio::engine
