// TIFF documents through libtiff: multi-page, every codec libtiff decodes, any bit depth, Orientation honoured.
#pragma once

#include <memory>
#include <string>

#include "stages/page.hpp"

namespace folio::stages {

// Number of pages (top-level directories). Throws folio::Error(Input) with libtiff's reason.
int tiff_page_count(const std::string& path);

// Decodes page `index` (1-based) to upright 8-bit RGB: 1-bit (either photometric), gray, palette, RGB(A),
// CMYK, YCbCr, 16-bit (scaled to 8), alpha composited over white, Orientation 1..8 applied. The size is
// checked against `max_pixels` before the raster is allocated.
Page decode_tiff_page(const std::string& path, int index, std::int64_t max_pixels);

// A PageSource that opens the file anew for each page (no shared libtiff state between threads).
std::unique_ptr<PageSource> open_tiff(const std::string& path, const OpenOptions& options);

}  // namespace folio::stages
