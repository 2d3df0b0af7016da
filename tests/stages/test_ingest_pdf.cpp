#include <boost/test/unit_test.hpp>

#include "common/error.hpp"
#include "stages/document.hpp"
#include "stages/rasterize_pdf.hpp"
#include "support/paths.hpp"
#include "tests/stages/ingest_fixtures.hpp"
#include "tests/stages/pdf_fixture.hpp"

using namespace folio;
using namespace folio::stages;

namespace {

std::string write_pdf(const test::TempDir& dir, const std::string& name, const std::vector<test::PdfPageSpec>& pages) {
  const auto path = dir.path() / name;
  test::write_text(path, test::make_pdf(pages));
  return path.string();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ingest_pdf)

BOOST_AUTO_TEST_CASE(dpi_makes_the_longest_edge_the_target) {
  BOOST_TEST(dpi_for_longest_edge({612, 792}, 2048) == 72.0 * 2048 / 792, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(dpi_for_longest_edge({792, 612}, 1024) == 72.0 * 1024 / 792, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(pdf_pixels(612, 72.0 * 2048 / 792) == 1583);
  BOOST_TEST(pdf_pixels(792, 72.0 * 2048 / 792) == 2048);
}

BOOST_AUTO_TEST_CASE(letter_page_renders_at_the_target_longest_edge) {
  test::TempDir dir;
  const auto path = write_pdf(dir, "letter.pdf", {{}, {}, {}});
  OpenOptions options;
  options.target_longest_edge = 1024;
  auto doc = open_document(path, options);
  BOOST_TEST(doc->page_count() == 3);
  const Page page = doc->load(2);
  BOOST_TEST(page.index == 2);
  BOOST_TEST(page.source == path);
  BOOST_TEST(page.image.height == 1024);
  BOOST_TEST(page.image.width == pdf_pixels(612, page.dpi));
  BOOST_TEST(page.dpi == 72.0 * 1024 / 792, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(test::dark_corner(page.image) == 0);  // the mark stays top-left
  BOOST_TEST(test::px(page.image, page.image.width / 2, page.image.height / 2)[0] == 255);  // white paper
}

BOOST_AUTO_TEST_CASE(fixed_dpi_overrides_the_target) {
  test::TempDir dir;
  const auto path = write_pdf(dir, "a.pdf", {{200, 100}});
  OpenOptions options;
  options.dpi = 144;
  const Page page = open_document(path, options)->load(1);
  BOOST_TEST(page.image.width == 400);
  BOOST_TEST(page.image.height == 200);
  BOOST_TEST(page.dpi == 144.0);
}

BOOST_AUTO_TEST_CASE(rotated_pages_render_upright) {
  test::TempDir dir;
  std::vector<test::PdfPageSpec> pages(4);
  for (int i = 0; i < 4; ++i) {
    pages[i].width = 300;
    pages[i].height = 500;
    pages[i].rotate = 90 * i;
  }
  OpenOptions options;
  options.dpi = 72;
  auto doc = open_document(write_pdf(dir, "rot.pdf", pages), options);
  // /Rotate turns the page clockwise for display: the top-left mark travels clockwise round the corners.
  for (int i = 0; i < 4; ++i) {
    const Page page = doc->load(i + 1);
    const bool sideways = i % 2 == 1;
    BOOST_TEST(page.image.width == (sideways ? 500 : 300));
    BOOST_TEST(page.image.height == (sideways ? 300 : 500));
    BOOST_TEST(test::dark_corner(page.image) == i, "rotate " << 90 * i);
  }
}

BOOST_AUTO_TEST_CASE(rotated_page_uses_the_displayed_longest_edge) {
  test::TempDir dir;
  test::PdfPageSpec spec;
  spec.rotate = 90;  // letter portrait shown landscape
  OpenOptions options;
  options.target_longest_edge = 800;
  const Page page = open_document(write_pdf(dir, "land.pdf", {spec}), options)->load(1);
  BOOST_TEST(page.image.width == 800);
  BOOST_TEST(page.image.height == pdf_pixels(612, page.dpi));
}

BOOST_AUTO_TEST_CASE(crop_box_sets_the_rendered_area) {
  test::TempDir dir;
  test::PdfPageSpec spec;
  spec.width = 600;
  spec.height = 800;
  spec.crop_x0 = 100;
  spec.crop_y0 = 200;
  spec.crop_x1 = 400;  // 300 x 400 pt visible
  spec.crop_y1 = 600;
  spec.mark = 30;
  OpenOptions options;
  options.dpi = 72;
  const Page page = open_document(write_pdf(dir, "crop.pdf", {spec}), options)->load(1);
  BOOST_TEST(page.image.width == 300);
  BOOST_TEST(page.image.height == 400);
  BOOST_TEST(test::dark_corner(page.image) == 0);  // drawn at the crop box's top-left
}

BOOST_AUTO_TEST_CASE(odd_sizes_round_like_poppler) {
  test::TempDir dir;
  OpenOptions options;
  options.target_longest_edge = 999;
  const Page page = open_document(write_pdf(dir, "odd.pdf", {{123.4, 987.6}}), options)->load(1);
  BOOST_TEST(page.image.height == 999);
  BOOST_TEST(page.image.width == pdf_pixels(123.4, page.dpi));
}

BOOST_AUTO_TEST_CASE(page_over_the_pixel_budget_is_refused_before_rendering) {
  test::TempDir dir;
  const auto path = write_pdf(dir, "big.pdf", {{14400, 14400}});
  OpenOptions options;
  options.dpi = 300;  // 60000 x 60000 px = 3.6 Gpx
  auto doc = open_document(path, options);
  try {
    doc->load(1);
    BOOST_FAIL("expected a limit error");
  } catch (const Error& e) {
    BOOST_TEST(static_cast<int>(e.kind()) == static_cast<int>(ErrorKind::Limit));
    BOOST_TEST(std::string(e.what()).find("big.pdf") != std::string::npos);
    BOOST_TEST(std::string(e.what()).find("pixel budget") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(page_out_of_range_is_a_clear_error) {
  test::TempDir dir;
  auto doc = open_document(write_pdf(dir, "one.pdf", {{}}));
  BOOST_CHECK_THROW(doc->load(2), Error);
  BOOST_CHECK_THROW(doc->load(0), Error);
}

BOOST_AUTO_TEST_SUITE_END()
