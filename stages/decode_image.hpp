// Single-image formats (PNG, JPEG, BMP, PNM, GIF, WebP) decoded through Leptonica into upright 8-bit RGB.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/image.hpp"
#include "stages/page.hpp"

namespace folio::stages {

struct DecodedImage {
  RgbImage image;    // upright (JPEG EXIF orientation applied), alpha composited over white
  double dpi = 0.0;  // from pHYs / JFIF / BMP header; 0 when absent
};

// Decodes an encoded image held in memory. `name` only labels errors. The header's size is checked
// against `max_pixels` before any pixel is decoded. Throws folio::Error (Input, Limit).
DecodedImage decode_image(std::span<const std::uint8_t> bytes, const std::string& name,
                          std::int64_t max_pixels = OpenOptions{}.max_pixels);

// Reads and decodes an image file (any of the formats above, sniffed from its bytes).
RgbImage read_image_file(const std::string& path, std::int64_t max_pixels = OpenOptions{}.max_pixels);

// A one-page PageSource over an image file; the file is read when the page is loaded.
std::unique_ptr<PageSource> open_image(const std::string& path, const OpenOptions& options);

// The whole file, or folio::Error(Io) naming it.
std::vector<std::uint8_t> read_file_bytes(const std::string& path);

}  // namespace folio::stages
