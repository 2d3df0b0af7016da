// PDF pages rendered with Poppler (poppler-cpp) to 8-bit RGB, one page at a time.
#pragma once

#include <memory>
#include <string>

#include "stages/page.hpp"

namespace folio::stages {

// A page's displayed size in PDF points (1/72 inch): the crop box, with width and height swapped for
// /Rotate 90 and 270.
struct PdfPageSize {
  double width_pt = 0.0;
  double height_pt = 0.0;
};

// The resolution that makes the longest displayed edge exactly `target_longest_edge` pixels.
double dpi_for_longest_edge(const PdfPageSize& size, int target_longest_edge);

// Pixel size Poppler produces for `size` at `dpi` (it rounds each edge to the nearest pixel, minimum 1).
int pdf_pixels(double points, double dpi);

// Opens a PDF (with options.password as user or owner password). Throws folio::Error:
// Encrypted "encrypted: needs a password" / "wrong password"; Input for damaged or non-PDF data.
// Pages render at options.dpi when set, else at the resolution that gives options.target_longest_edge.
std::unique_ptr<PageSource> open_pdf(const std::string& path, const OpenOptions& options);

}  // namespace folio::stages
