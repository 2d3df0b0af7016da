// The committed samples (samples/README.md) decode as documented.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdlib>
#include <thread>

#include "common/error.hpp"
#include "stages/cleanup.hpp"
#include "stages/decode_image.hpp"
#include "stages/document.hpp"
#include "stages/rasterize_pdf.hpp"
#include "support/paths.hpp"
#include "tests/stages/ingest_fixtures.hpp"

using namespace folio;
using namespace folio::stages;

namespace {

std::string sample(const std::string& name) { return (test::samples_dir() / name).string(); }

double mean_abs_diff(const RgbImage& a, const RgbImage& b) {
  double sum = 0;
  for (std::size_t i = 0; i < a.pixels.size(); ++i) sum += std::abs(int(a.pixels[i]) - int(b.pixels[i]));
  return sum / static_cast<double>(a.pixels.size());
}

ErrorKind kind_of_open(const std::string& path, const std::string& password, std::string& what) {
  OpenOptions options;
  options.password = password;
  try {
    open_document(path, options);
  } catch (const Error& e) {
    what = e.what();
    return e.kind();
  }
  return ErrorKind::Internal;  // "no error"
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ingest_samples)

BOOST_AUTO_TEST_CASE(invoice_pdf_renders_at_the_default_longest_edge) {
  auto doc = open_document(sample("invoice.pdf"));
  BOOST_TEST(static_cast<int>(doc->format()) == static_cast<int>(DocumentFormat::Pdf));
  BOOST_TEST(doc->page_count() == 2);
  const Page page = doc->load(2);
  BOOST_TEST(page.image.height == 2048);  // A4 portrait: height is the longest edge
  BOOST_TEST(page.image.width == pdf_pixels(595.2756, page.dpi));
  BOOST_TEST(page.dpi == 72.0 * 2048 / 841.8898, boost::test_tools::tolerance(1e-4));
}

BOOST_AUTO_TEST_CASE(protected_pdf_needs_the_right_password) {
  const auto path = sample("invoice-protected.pdf");
  std::string what;
  BOOST_TEST(static_cast<int>(kind_of_open(path, "", what)) == static_cast<int>(ErrorKind::Encrypted));
  BOOST_TEST(what.find("encrypted: needs a password") != std::string::npos, what);
  BOOST_TEST(what.find("invoice-protected.pdf") != std::string::npos, what);
  BOOST_TEST(static_cast<int>(kind_of_open(path, "guess", what)) == static_cast<int>(ErrorKind::Encrypted));
  BOOST_TEST(what.find("wrong password") != std::string::npos, what);
  BOOST_TEST(what.find("invoice-protected.pdf") != std::string::npos, what);

  OpenOptions options;
  options.password = "folio-sample";
  options.target_longest_edge = 400;
  auto doc = open_document(path, options);
  BOOST_TEST(doc->page_count() == 2);
  BOOST_TEST(doc->load(1).image.height == 400);
  options.password = "folio-owner";  // the owner password opens it too
  BOOST_TEST(open_document(path, options)->page_count() == 2);
}

BOOST_AUTO_TEST_CASE(rotated_pdf_renders_like_the_upright_one) {
  OpenOptions options;
  options.target_longest_edge = 600;
  const Page upright = open_document(sample("invoice.pdf"), options)->load(1);
  const Page rotated = open_document(sample("invoice-rotated.pdf"), options)->load(1);
  BOOST_TEST(rotated.image.width == upright.image.width);
  BOOST_TEST(rotated.image.height == upright.image.height);
  BOOST_REQUIRE(rotated.image.pixels.size() == upright.image.pixels.size());
  BOOST_TEST(mean_abs_diff(rotated.image, upright.image) < 2.0);
}

BOOST_AUTO_TEST_CASE(skewed_g4_scan_has_two_pages_and_deskews) {
  auto doc = open_document(sample("scan-skewed.tif"));
  BOOST_TEST(static_cast<int>(doc->format()) == static_cast<int>(DocumentFormat::Tiff));
  BOOST_TEST(doc->page_count() == 2);
  double measured[2] = {0, 0};
  for (int i = 1; i <= 2; ++i) {
    const Page page = doc->load(i);
    BOOST_TEST(page.image.width == 1700);
    BOOST_TEST(page.image.height == 2200);
    BOOST_TEST(page.dpi == 200.0);
    CleanupOptions options;
    options.deskew = true;
    CleanupReport report;
    const RgbImage straight = cleanup_page(page.image, options, &report);
    BOOST_TEST(report.deskewed);
    measured[i - 1] = report.skew_degrees;
    CleanupReport again;
    cleanup_page(straight, options, &again);
    BOOST_TEST(std::abs(again.skew_degrees) < 0.3, "residual skew " << again.skew_degrees);
  }
  // Made with +2.5 and -2.0 degrees.
  BOOST_TEST(std::abs(std::abs(measured[0]) - 2.5) < 0.3, measured[0]);
  BOOST_TEST(std::abs(std::abs(measured[1]) - 2.0) < 0.3, measured[1]);
  BOOST_TEST(measured[0] * measured[1] < 0);
}

BOOST_AUTO_TEST_CASE(receipt_photo_comes_out_upright) {
  const Page page = open_document(sample("receipt-photo.jpg"))->load(1);
  BOOST_TEST(page.image.width == 640);  // stored 900x640, EXIF Orientation 6
  BOOST_TEST(page.image.height == 900);
  // Desk on the left margin, paper right of it, desk again at the bottom (the receipt starts near the top).
  BOOST_TEST(test::px(page.image, 40, 300)[0] < 150);
  BOOST_TEST(test::px(page.image, 300, 750)[0] > 220);
  BOOST_TEST(test::px(page.image, 300, 860)[0] < 150);
}

BOOST_AUTO_TEST_CASE(form_png_decodes_exactly) {
  const Page page = open_document(sample("form.png"))->load(1);
  BOOST_TEST(page.image.width == 850);
  BOOST_TEST(page.image.height == 1100);
  const std::uint8_t* bar = test::px(page.image, 400, 102);  // the title rule
  BOOST_TEST(int(bar[0]) == 30);
  BOOST_TEST(int(bar[1]) == 60);
  BOOST_TEST(int(bar[2]) == 140);
}

BOOST_AUTO_TEST_CASE(pages_load_from_several_threads_at_once) {
  OpenOptions options;
  options.target_longest_edge = 500;
  for (const char* name : {"invoice.pdf", "scan-skewed.tif"}) {
    auto doc = open_document(sample(name), options);
    const RgbImage first = doc->load(1).image, second = doc->load(2).image;
    RgbImage a, b;
    std::thread ta([&] { for (int i = 0; i < 3; ++i) a = doc->load(1).image; });
    std::thread tb([&] { for (int i = 0; i < 3; ++i) b = doc->load(2).image; });
    ta.join();
    tb.join();
    BOOST_TEST(a.pixels == first.pixels, name);
    BOOST_TEST(b.pixels == second.pixels, name);
  }
}

BOOST_AUTO_TEST_CASE(folio_pages_writes_numbered_pngs) {
  const std::string bin = test::folio_bin();
  if (!std::filesystem::exists(bin)) {
    BOOST_TEST_MESSAGE("folio binary not built at " << bin << "; CLI check skipped");
    return;
  }
  test::TempDir dir;
  const std::string out = (dir.path() / "pages").string();
  const std::string base = bin + " -q pages " + sample("invoice-protected.pdf") + " --out " + out;
  BOOST_TEST(std::system((base + " --password folio-sample --pages 2-end --longest-edge 300 > /dev/null").c_str()) == 0);
  BOOST_TEST(!std::filesystem::exists(dir.path() / "pages" / "page-0001.png"));
  const RgbImage page2 = read_image_file((dir.path() / "pages" / "page-0002.png").string());
  BOOST_TEST(page2.height == 300);
  const auto wrong = test::run_command(base + " --password nope 2>&1");
  BOOST_TEST(wrong.status == 1);
  BOOST_TEST(wrong.out.find("wrong password") != std::string::npos, wrong.out);
  BOOST_TEST(wrong.out.find("invoice-protected.pdf") != std::string::npos, wrong.out);
  const int usage = std::system((base + " --pages 3-1 > /dev/null 2>&1").c_str());
  BOOST_TEST(WEXITSTATUS(usage) == 2);
}

BOOST_AUTO_TEST_SUITE_END()
