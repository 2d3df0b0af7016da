// Bad input of every kind: each gives a folio::Error that names the file, and nothing crashes.
#include <boost/test/unit_test.hpp>

#include <leptonica/allheaders.h>

#include "common/error.hpp"
#include "stages/document.hpp"
#include "stages/leptonica.hpp"
#include "stages/sniff.hpp"
#include "support/paths.hpp"
#include "tests/stages/ingest_fixtures.hpp"
#include "tests/stages/pdf_fixture.hpp"

using namespace folio;
using namespace folio::stages;

namespace {

std::string expect_error(const std::string& path, ErrorKind kind, const std::string& needle, int page = 0) {
  try {
    auto doc = open_document(path);
    doc->load(page ? page : 1);
  } catch (const Error& e) {
    const std::string what = e.what();
    BOOST_TEST(static_cast<int>(e.kind()) == static_cast<int>(kind), what);
    BOOST_TEST(what.find(std::filesystem::path(path).filename().string()) != std::string::npos, what);
    BOOST_TEST(what.find(needle) != std::string::npos, what);
    return what;
  }
  BOOST_FAIL("expected an error for " << path);
  return {};
}

std::vector<std::uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

}  // namespace

namespace folio::stages {
std::ostream& operator<<(std::ostream& out, DocumentFormat f) { return out << to_string(f); }
}  // namespace folio::stages

BOOST_AUTO_TEST_SUITE(ingest_errors)

BOOST_AUTO_TEST_CASE(sniffs_every_format_from_its_bytes) {
  BOOST_TEST(sniff_format(bytes_of("%PDF-1.7\n")) == DocumentFormat::Pdf);
  BOOST_TEST(sniff_format(bytes_of("junk before\n%PDF-1.4")) == DocumentFormat::Pdf);
  BOOST_TEST(sniff_format(bytes_of(std::string("II*\0\x08\0\0\0", 8))) == DocumentFormat::Tiff);
  BOOST_TEST(sniff_format(bytes_of(std::string("MM\0*\0\0\0\x08", 8))) == DocumentFormat::Tiff);
  BOOST_TEST(sniff_format(bytes_of(std::string("II+\0\x08\0\0\0", 8))) == DocumentFormat::Tiff);  // BigTIFF
  BOOST_TEST(sniff_format(bytes_of(std::string("MM\0+\0\x08\0\0", 8))) == DocumentFormat::Tiff);
  BOOST_TEST(sniff_format(bytes_of("\x89PNG\r\n\x1a\n....")) == DocumentFormat::Png);
  BOOST_TEST(sniff_format(bytes_of("\xff\xd8\xff\xe0")) == DocumentFormat::Jpeg);
  BOOST_TEST(sniff_format(bytes_of("GIF89a......")) == DocumentFormat::Gif);
  BOOST_TEST(sniff_format(bytes_of(std::string("RIFF\x10\0\0\0WEBPVP8 ", 16))) == DocumentFormat::WebP);
  BOOST_TEST(sniff_format(bytes_of("BM" + std::string(30, '\0'))) == DocumentFormat::Bmp);
  BOOST_TEST(sniff_format(bytes_of("P6\n2 2\n255\n")) == DocumentFormat::Pnm);
  BOOST_TEST(sniff_format(bytes_of("<html><body>")) == DocumentFormat::Unknown);
  BOOST_TEST(sniff_format(bytes_of(std::string("RIFF\x10\0\0\0WAVEfmt ", 16))) == DocumentFormat::Unknown);
  BOOST_TEST(sniff_format({}) == DocumentFormat::Unknown);
}

BOOST_AUTO_TEST_CASE(zero_byte_file) {
  test::TempDir dir;
  const auto path = (dir.path() / "empty.pdf").string();
  test::write_text(path, "");
  expect_error(path, ErrorKind::Input, "empty file");
}

BOOST_AUTO_TEST_CASE(missing_file_and_folder) {
  test::TempDir dir;
  expect_error((dir.path() / "nope.pdf").string(), ErrorKind::Io, "no such file");
  BOOST_CHECK_THROW(open_document(dir.path().string()), Error);
}

BOOST_AUTO_TEST_CASE(unknown_format_names_its_first_bytes) {
  test::TempDir dir;
  const auto path = (dir.path() / "notes.png").string();  // garbage with an image's extension
  test::write_text(path, "hello, this is plain text");
  expect_error(path, ErrorKind::Input, "not a supported document format (starts with 68 65 6c 6c");
}

BOOST_AUTO_TEST_CASE(png_named_pdf_decodes_as_png) {
  test::TempDir dir;
  const auto path = (dir.path() / "scan.pdf").string();
  lept::PixPtr pix = lept::from_rgb(test::corner_marked(30, 20, 5));
  test::write_bytes(path, test::encode_pix(pix.get(), IFF_PNG));
  auto doc = open_document(path);
  BOOST_TEST(doc->format() == DocumentFormat::Png);
  BOOST_TEST(doc->page_count() == 1);
  const Page page = doc->load(1);
  BOOST_TEST(page.image.width == 30);
  BOOST_TEST(test::dark_corner(page.image) == 0);
}

BOOST_AUTO_TEST_CASE(truncated_pdf) {
  test::TempDir dir;
  const std::string pdf = test::make_pdf({{}, {}});
  for (std::size_t keep : {std::size_t{9}, std::size_t{40}, pdf.size() / 3}) {
    const auto path = (dir.path() / ("cut" + std::to_string(keep) + ".pdf")).string();
    test::write_text(path, pdf.substr(0, keep));
    try {
      auto doc = open_document(path);
      // Poppler may rebuild a damaged file; if it opens, every page either renders or fails cleanly.
      for (int i = 1; i <= doc->page_count(); ++i) {
        try { doc->load(i); } catch (const Error& e) { BOOST_TEST(std::string(e.what()).find(path) != std::string::npos); }
      }
    } catch (const Error& e) {
      BOOST_TEST(static_cast<int>(e.kind()) == static_cast<int>(ErrorKind::Input), e.what());
      BOOST_TEST(std::string(e.what()).find(path) != std::string::npos, e.what());
    }
  }
  const auto path = (dir.path() / "header-only.pdf").string();
  test::write_text(path, "%PDF-1.4\n");
  expect_error(path, ErrorKind::Input, "cannot open as PDF");
}

BOOST_AUTO_TEST_CASE(truncated_images) {
  test::TempDir dir;
  lept::PixPtr pix = lept::from_rgb(test::corner_marked(64, 64, 5));
  for (int iff : {IFF_PNG, IFF_JFIF_JPEG, IFF_GIF, IFF_WEBP, IFF_BMP, IFF_PNM}) {
    const auto bytes = test::encode_pix(pix.get(), iff);
    for (std::size_t keep : {std::size_t{12}, bytes.size() / 2}) {
      const auto path = (dir.path() / ("cut" + std::to_string(iff) + ".img")).string();
      test::write_bytes(path, std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + static_cast<long>(keep)));
      try {
        open_document(path)->load(1);  // some decoders pad a short file (libjpeg does): that is fine
      } catch (const Error& e) {
        BOOST_TEST(std::string(e.what()).find(path) != std::string::npos, e.what());
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
