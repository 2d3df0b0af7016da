// Plain 8-bit RGB raster passed between stages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace folio {

// Interleaved RGB, row-major, no row padding: pixel (x, y) channel c is at (y * width + x) * 3 + c.
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;

  RgbImage() = default;
  RgbImage(int w, int h) : width(w), height(h), pixels(static_cast<std::size_t>(w) * h * 3, 0) {}

  std::uint8_t* row(int y) { return pixels.data() + static_cast<std::size_t>(y) * width * 3; }
  const std::uint8_t* row(int y) const { return pixels.data() + static_cast<std::size_t>(y) * width * 3; }
  bool empty() const { return width == 0 || height == 0; }
};

}  // namespace folio
