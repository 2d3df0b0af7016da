// Resizing exactly as Pillow's Image.resize(size, Image.LANCZOS) does on 8-bit RGB images, bit for bit:
// SmolVLM was trained on tiles Pillow made, and a resampler that differs by one grey level changes tokens.
#pragma once

#include "common/image.hpp"

namespace folio::stages {

// Returns `image` resized to width x height (both >= 1). Copies when the size is unchanged.
RgbImage resize_lanczos(const RgbImage& image, int width, int height);

}  // namespace folio::stages
