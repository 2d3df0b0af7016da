#include "stages/cleanup.hpp"

#include <cmath>

#include <leptonica/allheaders.h>
#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "stages/leptonica.hpp"

namespace folio::stages {

namespace {

using lept::PixPtr;

// Text detection works on ink: a 1 bpp copy thresholded at mid-gray.
PixPtr binarize(Pix* rgb) {
  PixPtr gray(pixConvertRGBToLuminance(rgb));
  if (!gray) return nullptr;
  return PixPtr(pixConvertTo1(gray.get(), 128));
}

PixPtr deskew(PixPtr pix, const CleanupOptions& options, CleanupReport& report) {
  PixPtr binary = binarize(pix.get());
  if (!binary) return pix;
  l_float32 angle = 0.0f, confidence = 0.0f;
  if (pixFindSkew(binary.get(), &angle, &confidence) != 0) return pix;  // blank or featureless page
  report.skew_degrees = angle;
  report.skew_confidence = confidence;
  if (confidence < options.min_skew_confidence || std::abs(angle) < options.min_skew_degrees) return pix;
  constexpr double kRadiansPerDegree = 3.14159265358979323846 / 180.0;
  // Same sign convention as Leptonica's pixDeskew; white comes in at the corners, size is kept.
  PixPtr rotated(pixRotate(pix.get(), static_cast<l_float32>(kRadiansPerDegree * angle), L_ROTATE_AREA_MAP,
                           L_BRING_IN_WHITE, 0, 0));
  if (!rotated) return pix;
  report.deskewed = true;
  return rotated;
}

PixPtr fix_orientation(PixPtr pix, const CleanupOptions& options, CleanupReport& report) {
  PixPtr binary = binarize(pix.get());
  if (!binary) return pix;
  l_float32 up = 0.0f, left = 0.0f;
  if (pixOrientDetect(binary.get(), &up, &left, 0, 0) != 0) return pix;
  l_int32 orient = L_TEXT_ORIENT_UNKNOWN;
  makeOrientDecision(up, left, static_cast<l_float32>(options.min_orientation_confidence), 0.0f, &orient, 0);
  int quads = 0;  // clockwise quarter turns that make the text upright
  if (orient == L_TEXT_ORIENT_LEFT) quads = 1;
  else if (orient == L_TEXT_ORIENT_DOWN) quads = 2;
  else if (orient == L_TEXT_ORIENT_RIGHT) quads = 3;
  spdlog::debug("orientation: up confidence {:.2f}, left confidence {:.2f}, rotate {} degrees", up, left, 90 * quads);
  if (quads == 0) return pix;
  PixPtr rotated(pixRotateOrth(pix.get(), quads));
  if (!rotated) return pix;
  report.rotated_clockwise = 90 * quads;
  return rotated;
}

PixPtr normalize_background(PixPtr pix, CleanupReport& report) {
  // Leptonica's defaults (10x15 tiles, ink threshold 100, 50 background pixels per tile), but a near-white
  // target: documents should look like paper, not Leptonica's default gray 200.
  PixPtr normalized(pixBackgroundNorm(pix.get(), nullptr, nullptr, 10, 15, 100, 50, 245, 2, 1));
  if (!normalized) return pix;
  report.background_normalized = true;
  return normalized;
}

}  // namespace

RgbImage cleanup_page(const RgbImage& page, const CleanupOptions& options, CleanupReport* report) {
  CleanupReport local;
  CleanupReport& out = report ? *report : local;
  out = {};
  if (!options.deskew && !options.fix_orientation && !options.normalize_background) return page;
  if (page.empty()) return page;
  lept::install_message_handler();
  PixPtr pix = lept::from_rgb(page);
  // Orientation first: skew is measured on horizontal text lines.
  if (options.fix_orientation) pix = fix_orientation(std::move(pix), options, out);
  if (options.deskew) pix = deskew(std::move(pix), options, out);
  if (options.normalize_background) pix = normalize_background(std::move(pix), out);
  return lept::to_rgb(pix.get());
}

}  // namespace folio::stages
