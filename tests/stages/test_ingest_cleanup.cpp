#include <boost/test/unit_test.hpp>

#include <cmath>

#include <leptonica/allheaders.h>

#include "stages/cleanup.hpp"
#include "stages/document.hpp"
#include "stages/leptonica.hpp"
#include "support/paths.hpp"
#include "tests/stages/ingest_fixtures.hpp"

using namespace folio;
using namespace folio::stages;

namespace {

RgbImage invoice_page() {
  OpenOptions options;
  options.target_longest_edge = 1400;
  return open_document((test::samples_dir() / "invoice.pdf").string(), options)->load(1).image;
}

RgbImage rotate_clockwise(const RgbImage& img, int quads) {
  lept::PixPtr pix = lept::from_rgb(img);
  lept::PixPtr rotated(pixRotateOrth(pix.get(), quads));
  return lept::to_rgb(rotated.get());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ingest_cleanup)

BOOST_AUTO_TEST_CASE(all_steps_off_changes_nothing) {
  const RgbImage img = test::corner_marked(50, 40, 7);
  CleanupReport report;
  const RgbImage out = cleanup_page(img, CleanupOptions{}, &report);
  BOOST_TEST(out.pixels == img.pixels);
  BOOST_TEST(!report.deskewed);
  BOOST_TEST(report.rotated_clockwise == 0);
}

BOOST_AUTO_TEST_CASE(sideways_and_upside_down_text_is_turned_upright) {
  const RgbImage upright = invoice_page();
  CleanupOptions options;
  options.fix_orientation = true;
  CleanupReport report;
  cleanup_page(upright, options, &report);
  BOOST_TEST(report.rotated_clockwise == 0);
  for (int quads = 1; quads <= 3; ++quads) {
    const RgbImage turned = rotate_clockwise(upright, quads);
    const RgbImage fixed = cleanup_page(turned, options, &report);
    BOOST_TEST(report.rotated_clockwise == (360 - 90 * quads) % 360, "turned " << 90 * quads);
    BOOST_TEST(fixed.pixels == upright.pixels, "turned " << 90 * quads);
  }
}

BOOST_AUTO_TEST_CASE(blank_page_is_left_alone) {
  RgbImage blank(300, 400);
  std::fill(blank.pixels.begin(), blank.pixels.end(), std::uint8_t{255});
  CleanupOptions options;
  options.deskew = true;
  options.fix_orientation = true;
  CleanupReport report;
  const RgbImage out = cleanup_page(blank, options, &report);
  BOOST_TEST(!report.deskewed);
  BOOST_TEST(report.rotated_clockwise == 0);
  BOOST_TEST(out.pixels == blank.pixels);
}

BOOST_AUTO_TEST_CASE(background_normalisation_flattens_uneven_paper) {
  // Paper darkening from 250 (left) to 150 (right), with black ink bars.
  RgbImage page(400, 300);
  for (int y = 0; y < page.height; ++y)
    for (int x = 0; x < page.width; ++x) {
      const bool ink = (y / 10) % 4 == 1 && (x / 30) % 2 == 0;
      const auto v = static_cast<std::uint8_t>(ink ? 20 : 250 - x / 4);
      page.row(y)[3 * x] = page.row(y)[3 * x + 1] = page.row(y)[3 * x + 2] = v;
    }
  CleanupOptions options;
  options.normalize_background = true;
  CleanupReport report;
  const RgbImage out = cleanup_page(page, options, &report);
  BOOST_TEST(report.background_normalized);
  const int left = test::px(out, 20, 5)[0], right = test::px(out, 380, 5)[0];
  BOOST_TEST(std::abs(left - right) < 20, left << " vs " << right);  // was 100 apart
  BOOST_TEST(right > 220);
  BOOST_TEST(test::px(out, 5, 15)[0] < 80);  // ink stays dark
}

BOOST_AUTO_TEST_SUITE_END()
