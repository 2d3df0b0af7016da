// Optional page clean-up with Leptonica: deskew, 90/180/270 orientation fix, background normalisation.
#pragma once

#include "common/image.hpp"

namespace folio::stages {

// Every step is off by default: SmolVLM was trained on raw page images, and each step can hurt a clean
// born-digital page (docs/ingestion.md explains when to switch them on).
struct CleanupOptions {
  bool deskew = false;                // straighten scans skewed by up to ~7 degrees
  bool fix_orientation = false;       // turn pages scanned sideways or upside down upright
  bool normalize_background = false;  // flatten uneven lighting / yellowed paper to a uniform light background
  double min_skew_degrees = 0.1;      // smaller skews are left alone (rotation blurs a little)
  double min_skew_confidence = 3.0;   // Leptonica's confidence below which the skew angle is not trusted
  double min_orientation_confidence = 7.0;  // Leptonica's text up/down confidence needed to rotate
};

// What clean-up found and did, for logs and tests.
struct CleanupReport {
  double skew_degrees = 0.0;     // measured skew (Leptonica sign convention); 0 when not measured
  double skew_confidence = 0.0;
  bool deskewed = false;
  int rotated_clockwise = 0;     // 0, 90, 180 or 270
  bool background_normalized = false;
};

// Returns the cleaned page (the input itself when every step is off). Never throws on content it cannot
// judge: low confidence means "leave the page as it is".
RgbImage cleanup_page(const RgbImage& page, const CleanupOptions& options, CleanupReport* report = nullptr);

}  // namespace folio::stages
