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

BOOST_AUTO_TEST_SUITE_END()
