// The EXIF/TIFF Orientation tag (values 1..8) and how to make an image upright from it.
#pragma once

#include <cstdint>
#include <span>

#include "common/image.hpp"

namespace folio::stages {

// Returns the image as it should be displayed, given how it is stored (TIFF 6.0 / EXIF Orientation):
// 1 as stored, 2 mirrored left-right, 3 rotated 180, 4 mirrored top-bottom, 5 transposed,
// 6 rotated 90 clockwise, 7 transverse, 8 rotated 90 counter-clockwise. Values outside 1..8 mean 1.
RgbImage apply_orientation(const RgbImage& stored, int orientation);

// The Orientation tag from a JPEG's APP1 Exif segment; 1 when absent or unreadable (never throws).
int jpeg_exif_orientation(std::span<const std::uint8_t> jpeg);

}  // namespace folio::stages
