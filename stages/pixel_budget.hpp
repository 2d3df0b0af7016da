// The pixel budget: a page whose raster would exceed it is refused before anything is allocated.
#pragma once

#include <cstdint>
#include <string>

#include <fmt/format.h>

#include "common/error.hpp"

namespace folio::stages {

// Throws ErrorKind::Limit (or Input for a non-positive size) unless width x height fits in max_pixels.
inline void check_pixel_budget(std::int64_t width, std::int64_t height, std::int64_t max_pixels,
                               const std::string& file, int page) {
  if (width <= 0 || height <= 0) {
    throw Error(ErrorKind::Input, fmt::format("page has an invalid size {}x{}", width, height), {file, page});
  }
  // Divide rather than multiply so that absurd header values cannot overflow.
  if (max_pixels > 0 && (width > max_pixels || height > max_pixels / width)) {
    throw Error(ErrorKind::Limit,
                fmt::format("page of {}x{} pixels ({:.1f} Mpx) exceeds the pixel budget of {:.1f} Mpx", width,
                            height, static_cast<double>(width) * static_cast<double>(height) / 1e6,
                            static_cast<double>(max_pixels) / 1e6),
                {file, page});
  }
}

}  // namespace folio::stages
