// The SmolVLM (Idefics3) image processor, exactly: resize the longest edge, snap to tile multiples, cut
// row-major tiles plus a global image last, then rescale and normalise to CHW float32
// (../shared/docs/smolvlm-spec.md section 3; docs/tiling.md). Parameters come from the checkpoint's
// preprocessor_config.json, so every SmolVLM checkpoint tiles right without a code change.
#pragma once

#include <array>
#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "common/image.hpp"

namespace folio::stages {

struct ImageProcessorConfig {
  bool do_convert_rgb = true;
  bool do_resize = true;
  int longest_edge = 4 * 364;  // size.longest_edge: the page is resized so its longest edge is this
  bool do_image_splitting = true;
  int tile_size = 364;         // max_image_size.longest_edge: tiles are tile_size x tile_size
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<float, 3> image_mean{0.5f, 0.5f, 0.5f};
  std::array<float, 3> image_std{0.5f, 0.5f, 0.5f};
  bool do_pad = true;

  // Throws folio::Error (Model) naming the file and the key for a bad or unsupported value.
  static ImageProcessorConfig load(const std::filesystem::path& preprocessor_config_json);
  static ImageProcessorConfig from_json(const nlohmann::json& j, const std::string& file = "preprocessor_config.json");
};

// Sizes (width x height) after each resize step, for tests, logs and `folio inspect`.
struct ResizePlan {
  int width = 0, height = 0;                // the input
  int resized_width = 0, resized_height = 0;  // after the longest-edge resize
  int snapped_width = 0, snapped_height = 0;  // after snapping to tile multiples (= resized when not splitting)
  int rows = 0, cols = 0;                   // 0 x 0 when the image is not split
  int frames = 0;                           // rows * cols tiles + 1 global image (or just 1)
};

ResizePlan plan_resize(int width, int height, const ImageProcessorConfig& config);

// The frames of one image, 8-bit RGB, each tile_size x tile_size: row-major tiles, then the global image.
struct Tiles {
  int rows = 0;
  int cols = 0;
  int tile_size = 0;
  std::vector<RgbImage> frames;
};

Tiles tile_image(const RgbImage& image, const ImageProcessorConfig& config);

// [frames, 3, T, T] float32, channels R, G, B: v = (float(u8 * rescale_factor) - mean) / std.
std::vector<float> to_pixel_values(const Tiles& tiles, const ImageProcessorConfig& config);

}  // namespace folio::stages
