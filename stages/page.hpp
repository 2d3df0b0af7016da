// One page of a document as the pipeline sees it, and the streaming interface that produces pages.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/image.hpp"
#include "stages/sniff.hpp"

namespace folio::stages {

// A decoded page: 8-bit RGB, upright (EXIF/TIFF orientation and PDF /Rotate already applied).
struct Page {
  std::string source;  // the document's path, as given
  int index = 0;       // 1-based, as users count pages
  RgbImage image;
  double dpi = 0.0;    // pixels per inch of `image`; 0 when the file does not say (photos, PNGs without pHYs)
};

// How to open a document. Defaults suit the SmolVLM processor (size.longest_edge 2048).
struct OpenOptions {
  std::string password;            // PDF user (or owner) password; empty = none
  int target_longest_edge = 2048;  // PDFs render so their longest edge is at least this many pixels
  double dpi = 0.0;                // PDFs: fixed render resolution instead of target_longest_edge (0 = off)
  std::int64_t max_pixels = 64LL * 1000 * 1000;  // refuse a page whose raster would be larger (ErrorKind::Limit)
};

// A document opened for reading page by page. load() decodes only the page asked for, so a 2,000-page
// PDF never sits in memory whole. Implementations are safe to call from several threads.
class PageSource {
 public:
  virtual ~PageSource() = default;
  virtual int page_count() const = 0;
  // `index` is 1-based. Throws folio::Error naming the file and page.
  virtual Page load(int index) const = 0;
  virtual const std::string& path() const = 0;
  virtual DocumentFormat format() const = 0;  // as sniffed from the bytes
};

}  // namespace folio::stages
