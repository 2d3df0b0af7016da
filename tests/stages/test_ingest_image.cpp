#include <boost/test/unit_test.hpp>

#include <leptonica/allheaders.h>

#include "common/error.hpp"
#include "stages/decode_image.hpp"
#include "stages/leptonica.hpp"
#include "stages/orientation.hpp"
#include "support/paths.hpp"
#include "tests/stages/ingest_fixtures.hpp"

using namespace folio;
using namespace folio::stages;
using folio::test::px;

namespace {

RgbImage gradient(int w, int h) {
  RgbImage img(w, h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      img.row(y)[3 * x] = static_cast<std::uint8_t>(x * 7 + y);
      img.row(y)[3 * x + 1] = static_cast<std::uint8_t>(y * 5);
      img.row(y)[3 * x + 2] = static_cast<std::uint8_t>(x ^ y);
    }
  return img;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ingest_image)

BOOST_AUTO_TEST_CASE(reference_png_decodes_at_its_size) {
  const RgbImage img = read_image_file((test::reference_dir() / "tiny-a/images/invoice.png").string());
  BOOST_TEST(img.width == 850);
  BOOST_TEST(img.height == 1100);
  BOOST_TEST(img.pixels.size() == 850u * 1100u * 3u);
}

BOOST_AUTO_TEST_CASE(png_round_trip_is_exact) {
  const RgbImage src = gradient(37, 23);
  lept::PixPtr pix = lept::from_rgb(src);
  const auto png = test::encode_pix(pix.get(), IFF_PNG);
  BOOST_REQUIRE(!png.empty());
  const DecodedImage out = decode_image(png, "mem.png");
  BOOST_TEST(out.image.width == 37);
  BOOST_TEST(out.image.height == 23);
  BOOST_TEST(out.image.pixels == src.pixels);
}

BOOST_AUTO_TEST_CASE(lossless_formats_round_trip) {
  const RgbImage src = gradient(19, 11);
  lept::PixPtr pix = lept::from_rgb(src);
  for (int iff : {IFF_BMP, IFF_PNM}) {
    const auto bytes = test::encode_pix(pix.get(), iff);
    BOOST_REQUIRE(!bytes.empty());
    const DecodedImage out = decode_image(bytes, "mem");
    BOOST_TEST(out.image.pixels == src.pixels, "format " << iff);
  }
}

BOOST_AUTO_TEST_CASE(gray_palette_and_one_bit_png_become_rgb) {
  // 8-bit gray
  lept::PixPtr gray(pixCreate(3, 1, 8));
  pixSetPixel(gray.get(), 0, 0, 0);
  pixSetPixel(gray.get(), 1, 0, 77);
  pixSetPixel(gray.get(), 2, 0, 255);
  RgbImage img = decode_image(test::encode_pix(gray.get(), IFF_PNG), "gray.png").image;
  BOOST_TEST(img.pixels == (std::vector<std::uint8_t>{0, 0, 0, 77, 77, 77, 255, 255, 255}), boost::test_tools::per_element());

  // palette
  lept::PixPtr pal(pixCreate(2, 1, 8));
  PIXCMAP* cmap = pixcmapCreate(8);
  pixcmapAddColor(cmap, 10, 20, 30);
  pixcmapAddColor(cmap, 200, 100, 50);
  pixSetColormap(pal.get(), cmap);  // the PIX owns it now
  pixSetPixel(pal.get(), 0, 0, 1);
  pixSetPixel(pal.get(), 1, 0, 0);
  img = decode_image(test::encode_pix(pal.get(), IFF_PNG), "pal.png").image;
  BOOST_TEST(img.pixels == (std::vector<std::uint8_t>{200, 100, 50, 10, 20, 30}), boost::test_tools::per_element());

  // 1 bit: Leptonica's 1 is black ink
  lept::PixPtr bw(pixCreate(2, 1, 1));
  pixSetPixel(bw.get(), 0, 0, 1);
  img = decode_image(test::encode_pix(bw.get(), IFF_PNG), "bw.png").image;
  BOOST_TEST(img.pixels == (std::vector<std::uint8_t>{0, 0, 0, 255, 255, 255}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(sixteen_bit_png_keeps_the_high_byte) {
  lept::PixPtr deep(pixCreate(2, 1, 16));
  pixSetPixel(deep.get(), 0, 0, 0x80ff);
  pixSetPixel(deep.get(), 1, 0, 0xffff);
  const RgbImage img = decode_image(test::encode_pix(deep.get(), IFF_PNG), "deep.png").image;
  BOOST_TEST(img.pixels == (std::vector<std::uint8_t>{128, 128, 128, 255, 255, 255}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(png_alpha_is_composited_over_white) {
  lept::PixPtr rgba(pixCreate(3, 1, 32));
  pixSetSpp(rgba.get(), 4);
  pixSetPixel(rgba.get(), 0, 0, 0xff0000ffu);  // opaque red
  pixSetPixel(rgba.get(), 1, 0, 0x00000000u);  // fully transparent black
  pixSetPixel(rgba.get(), 2, 0, 0x0000ff80u);  // half-transparent blue
  const RgbImage img = decode_image(test::encode_pix(rgba.get(), IFF_PNG), "alpha.png").image;
  BOOST_TEST(img.pixels == (std::vector<std::uint8_t>{255, 0, 0, 255, 255, 255, 127, 127, 255}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(jpeg_honours_every_exif_orientation) {
  const RgbImage stored = test::corner_marked(64, 32, 16);
  lept::PixPtr pix = lept::from_rgb(stored);
  const auto jpeg = test::encode_pix(pix.get(), IFF_JFIF_JPEG);
  BOOST_REQUIRE(jpeg.size() > 4);
  BOOST_TEST(jpeg_exif_orientation(jpeg) == 1);
  const int expected_corner[9] = {0, 0, 1, 2, 3, 0, 1, 2, 3};
  for (int o = 1; o <= 8; ++o) {
    for (bool big_endian : {false, true}) {
      const auto with_exif = test::with_exif_orientation(jpeg, o, big_endian);
      BOOST_TEST(jpeg_exif_orientation(with_exif) == o);
      const RgbImage img = decode_image(with_exif, "photo.jpg").image;
      BOOST_TEST(img.width == (o >= 5 ? 32 : 64), "orientation " << o);
      BOOST_TEST(img.height == (o >= 5 ? 64 : 32), "orientation " << o);
      BOOST_TEST(test::dark_corner(img) == expected_corner[o], "orientation " << o);
    }
  }
}

BOOST_AUTO_TEST_CASE(exif_parser_survives_garbage) {
  std::vector<std::uint8_t> bytes = {0xff, 0xd8, 0xff, 0xe1, 0xff, 0xff, 'E', 'x', 'i', 'f', 0, 0};
  BOOST_TEST(jpeg_exif_orientation(bytes) == 1);  // segment longer than the file
  bytes = {0xff, 0xd8, 0xff, 0xe1, 0x00, 0x10, 'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 0xff, 0xff, 0xff, 0x7f};
  BOOST_TEST(jpeg_exif_orientation(bytes) == 1);  // IFD offset far outside
  BOOST_TEST(jpeg_exif_orientation({}) == 1);
}

BOOST_AUTO_TEST_CASE(gif_bmp_pnm_webp_decode) {
  const RgbImage src = test::corner_marked(24, 16, 6);
  lept::PixPtr pix = lept::from_rgb(src);
  for (int iff : {IFF_GIF, IFF_WEBP, IFF_BMP, IFF_PNM, IFF_JFIF_JPEG}) {
    const auto bytes = test::encode_pix(pix.get(), iff);
    BOOST_REQUIRE_MESSAGE(!bytes.empty(), "format " << iff);
    const RgbImage img = decode_image(bytes, "mem").image;
    BOOST_TEST(img.width == 24);
    BOOST_TEST(img.height == 16);
    BOOST_TEST(test::dark_corner(img) == 0, "format " << iff);
  }
}

BOOST_AUTO_TEST_CASE(png_dpi_is_reported) {
  lept::PixPtr pix = lept::from_rgb(test::corner_marked(4, 4, 1));
  pixSetResolution(pix.get(), 300, 300);
  BOOST_TEST(decode_image(test::encode_pix(pix.get(), IFF_PNG), "dpi.png").dpi == 300.0, boost::test_tools::tolerance(0.5));
}

BOOST_AUTO_TEST_CASE(image_over_the_pixel_budget_is_refused) {
  lept::PixPtr pix = lept::from_rgb(test::corner_marked(100, 100, 1));
  const auto png = test::encode_pix(pix.get(), IFF_PNG);
  BOOST_CHECK_NO_THROW(decode_image(png, "ok.png", 10000));
  try {
    decode_image(png, "big.png", 9999);
    BOOST_FAIL("expected a limit error");
  } catch (const Error& e) {
    BOOST_TEST(static_cast<int>(e.kind()) == static_cast<int>(ErrorKind::Limit));
    BOOST_TEST(std::string(e.what()).find("big.png") != std::string::npos);
  }
}

BOOST_AUTO_TEST_SUITE_END()
