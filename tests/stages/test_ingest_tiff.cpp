#include <boost/test/unit_test.hpp>

#include <cstring>

#include "common/error.hpp"
#include "stages/decode_tiff.hpp"
#include "stages/document.hpp"
#include "support/paths.hpp"
#include "tests/stages/ingest_fixtures.hpp"
#include "tests/stages/tiff_fixture.hpp"

using namespace folio;
using namespace folio::stages;
using test::dark_corner;
using test::px;

namespace {

// PREFIX + n + ".tif", appended: `"c" + std::to_string(n)` draws a GCC 12 -Wrestrict false positive.
std::string tif_name(const char* prefix, int n) {
  std::string s = prefix;
  s += std::to_string(n);
  s += ".tif";
  return s;
}

// A hand-made little-endian TIFF: one IFD of (tag, type, value) entries with inline values, then `tail` bytes.
std::vector<std::uint8_t> raw_tiff(std::vector<std::array<std::uint32_t, 3>> entries, std::size_t tail = 16) {
  std::vector<std::uint8_t> out = {'I', 'I', 42, 0, 8, 0, 0, 0};
  auto put16 = [&](std::uint32_t v) { out.push_back(v & 0xff); out.push_back((v >> 8) & 0xff); };
  auto put32 = [&](std::uint32_t v) { put16(v & 0xffff); put16(v >> 16); };
  const std::uint32_t data_at = static_cast<std::uint32_t>(8 + 2 + 12 * entries.size() + 4);
  put16(static_cast<std::uint32_t>(entries.size()));
  for (auto [tag, type, value] : entries) {
    if (value == 0xffffffffu) value = data_at;  // placeholder: "the data after the IFD"
    put16(tag);
    put16(type);
    put32(1);
    if (type == 3) { put16(value); put16(0); } else { put32(value); }
  }
  put32(0);
  out.resize(out.size() + tail, 0);
  return out;
}

constexpr std::uint32_t kShort = 3, kLong = 4, kHere = 0xffffffffu;

std::string expect_error(const std::string& path, int page, ErrorKind kind) {
  try {
    if (page == 0) {
      open_document(path);
    } else {
      open_document(path)->load(page);
    }
  } catch (const Error& e) {
    BOOST_TEST(static_cast<int>(e.kind()) == static_cast<int>(kind), e.what());
    BOOST_TEST(std::string(e.what()).find(std::filesystem::path(path).filename().string()) != std::string::npos);
    return e.what();
  }
  BOOST_FAIL("expected an error for " << path);
  return {};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ingest_tiff)

BOOST_AUTO_TEST_CASE(every_codec_decodes) {
  test::TempDir dir;
  const RgbImage img = test::corner_marked(40, 30, 10);
  struct Case { int compression; int bits; int samples; int photometric; };
  const Case cases[] = {
      {COMPRESSION_NONE, 8, 3, PHOTOMETRIC_RGB},          {COMPRESSION_LZW, 8, 3, PHOTOMETRIC_RGB},
      {COMPRESSION_ADOBE_DEFLATE, 8, 3, PHOTOMETRIC_RGB}, {COMPRESSION_PACKBITS, 8, 3, PHOTOMETRIC_RGB},
      {COMPRESSION_JPEG, 8, 3, PHOTOMETRIC_RGB},          {COMPRESSION_CCITTFAX3, 1, 1, PHOTOMETRIC_MINISWHITE},
      {COMPRESSION_CCITTFAX4, 1, 1, PHOTOMETRIC_MINISWHITE}, {COMPRESSION_CCITTRLE, 1, 1, PHOTOMETRIC_MINISWHITE},
      {COMPRESSION_LZW, 8, 1, PHOTOMETRIC_MINISBLACK},
  };
  for (const Case& c : cases) {
    test::TiffPageSpec spec = test::tiff_from(img, c.bits, c.samples, c.photometric);
    spec.compression = c.compression;
    const auto path = (dir.path() / tif_name("c", c.compression)).string();
    BOOST_REQUIRE(test::write_tiff(path, {spec}));
    auto doc = open_document(path);
    BOOST_TEST(doc->page_count() == 1);
    const Page page = doc->load(1);
    BOOST_TEST(page.image.width == 40);
    BOOST_TEST(page.image.height == 30);
    BOOST_TEST(dark_corner(page.image) == 0, "compression " << c.compression);
    if (c.compression != COMPRESSION_JPEG) {
      BOOST_TEST(page.image.pixels == img.pixels, "compression " << c.compression << " is lossless");
    }
  }
}

BOOST_AUTO_TEST_CASE(bigtiff_decodes) {
  test::TempDir dir;
  const RgbImage img = test::corner_marked(21, 13, 4);
  const auto path = (dir.path() / "big.tif").string();
  BOOST_REQUIRE(test::write_tiff(path, {test::tiff_from(img, 8, 3, PHOTOMETRIC_RGB)}, true));
  const Page page = open_document(path)->load(1);
  BOOST_TEST(page.image.pixels == img.pixels);
}

BOOST_AUTO_TEST_CASE(cmyk_becomes_rgb) {
  test::TempDir dir;
  test::TiffPageSpec spec;
  spec.width = 3;
  spec.height = 1;
  spec.samples = 4;
  spec.photometric = PHOTOMETRIC_SEPARATED;  // InkSet defaults to CMYK
  spec.data = {0, 0, 0, 0, 0, 0, 0, 255, 0, 255, 255, 0};  // white, black, red
  const auto path = (dir.path() / "cmyk.tif").string();
  BOOST_REQUIRE(test::write_tiff(path, {spec}));
  const Page page = open_document(path)->load(1);
  const std::vector<std::uint8_t> expected = {255, 255, 255, 0, 0, 0, 255, 0, 0};
  BOOST_TEST(page.image.pixels == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(one_bit_both_photometrics_show_black_ink) {
  test::TempDir dir;
  const RgbImage img = test::corner_marked(17, 9, 4);
  for (int photometric : {PHOTOMETRIC_MINISWHITE, PHOTOMETRIC_MINISBLACK}) {
    const auto path = (dir.path() / "bw.tif").string();
    BOOST_REQUIRE(test::write_tiff(path, {test::tiff_from(img, 1, 1, photometric)}));
    const Page page = open_document(path)->load(1);
    BOOST_TEST(page.image.pixels == img.pixels, "photometric " << photometric);
  }
}

BOOST_AUTO_TEST_CASE(all_eight_orientations_come_out_upright) {
  test::TempDir dir;
  const RgbImage stored = test::corner_marked(40, 20, 6);
  // Where the stored top-left corner is displayed: TIFF 6.0 Orientation semantics.
  const int expected_corner[9] = {0, 0, 1, 2, 3, 0, 1, 2, 3};
  for (int o = 1; o <= 8; ++o) {
    test::TiffPageSpec spec = test::tiff_from(stored, 8, 3, PHOTOMETRIC_RGB);
    spec.orientation = o;
    const auto path = (dir.path() / tif_name("o", o)).string();
    BOOST_REQUIRE(test::write_tiff(path, {spec}));
    const Page page = open_document(path)->load(1);
    const bool transposed = o >= 5;
    BOOST_TEST(page.image.width == (transposed ? 20 : 40), "orientation " << o);
    BOOST_TEST(page.image.height == (transposed ? 40 : 20), "orientation " << o);
    BOOST_TEST(dark_corner(page.image) == expected_corner[o], "orientation " << o);
  }
}

BOOST_AUTO_TEST_CASE(palette_expands_through_its_colormap) {
  test::TempDir dir;
  test::TiffPageSpec spec;
  spec.width = 4;
  spec.height = 1;
  spec.bits = 8;
  spec.samples = 1;
  spec.photometric = PHOTOMETRIC_PALETTE;
  spec.colormap.assign(3 * 256, 0);
  spec.colormap[1] = 65535;            // index 1: red
  spec.colormap[256 + 2] = 65535;      // index 2: green
  spec.colormap[512 + 3] = 0x8080;     // index 3: mid blue
  spec.data = {0, 1, 2, 3};
  const auto path = (dir.path() / "pal.tif").string();
  BOOST_REQUIRE(test::write_tiff(path, {spec}));
  const Page page = open_document(path)->load(1);
  const std::vector<std::uint8_t> expected = {0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 128};
  BOOST_TEST(page.image.pixels == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(sixteen_bit_scales_to_eight) {
  test::TempDir dir;
  const RgbImage img = test::corner_marked(8, 8, 3);
  for (int samples : {1, 3}) {
    const auto path = (dir.path() / "deep.tif").string();
    BOOST_REQUIRE(test::write_tiff(path, {test::tiff_from(img, 16, samples,
                                                          samples == 1 ? PHOTOMETRIC_MINISBLACK : PHOTOMETRIC_RGB)}));
    const Page page = open_document(path)->load(1);
    BOOST_TEST(page.image.pixels == img.pixels, "samples " << samples);
  }
}

BOOST_AUTO_TEST_CASE(alpha_is_composited_over_white) {
  test::TempDir dir;
  for (int extra : {EXTRASAMPLE_UNASSALPHA, EXTRASAMPLE_ASSOCALPHA}) {
    // RGBA: opaque red, transparent black, half-transparent red (premultiplied when associated).
    test::TiffPageSpec rgba;
    rgba.width = 3;
    rgba.height = 1;
    rgba.samples = 4;
    rgba.extra_sample = extra;
    const std::uint8_t half_red = extra == EXTRASAMPLE_ASSOCALPHA ? 128 : 255;
    rgba.data = {255, 0, 0, 255, 0, 0, 0, 0, half_red, 0, 0, 128};
    const auto path = (dir.path() / "rgba.tif").string();
    BOOST_REQUIRE(test::write_tiff(path, {rgba}));
    const Page page = open_document(path)->load(1);
    BOOST_TEST(px(page.image, 0, 0)[0] == 255);
    BOOST_TEST(px(page.image, 0, 0)[1] == 0);
    BOOST_TEST(px(page.image, 1, 0)[0] == 255);  // transparent -> white paper
    BOOST_TEST(px(page.image, 1, 0)[2] == 255);
    BOOST_TEST(px(page.image, 2, 0)[0] == 255);
    BOOST_TEST(std::abs(px(page.image, 2, 0)[1] - 127) <= 1);  // half red over white = pink
  }
  // Gray + unassociated alpha: libtiff passes it through un-premultiplied.
  test::TiffPageSpec ga;
  ga.width = 2;
  ga.height = 1;
  ga.samples = 2;
  ga.photometric = PHOTOMETRIC_MINISBLACK;
  ga.extra_sample = EXTRASAMPLE_UNASSALPHA;
  ga.data = {0, 0, 0, 128};
  const auto path = (dir.path() / "ga.tif").string();
  BOOST_REQUIRE(test::write_tiff(path, {ga}));
  const Page page = open_document(path)->load(1);
  BOOST_TEST(px(page.image, 0, 0)[0] == 255);
  BOOST_TEST(std::abs(px(page.image, 1, 0)[0] - 127) <= 1);
}

BOOST_AUTO_TEST_CASE(multi_page_loads_each_page_on_demand) {
  test::TempDir dir;
  std::vector<test::TiffPageSpec> pages;
  for (int i = 0; i < 3; ++i) {
    test::TiffPageSpec p = test::tiff_from(test::corner_marked(10 + i, 20 + i, 2), 1, 1, PHOTOMETRIC_MINISWHITE);
    p.compression = COMPRESSION_CCITTFAX4;
    p.dpi = 300;
    pages.push_back(p);
  }
  const auto path = (dir.path() / "multi.tif").string();
  BOOST_REQUIRE(test::write_tiff(path, pages));
  auto doc = open_document(path);
  BOOST_TEST(doc->page_count() == 3);
  for (int i = 3; i >= 1; --i) {
    const Page page = doc->load(i);
    BOOST_TEST(page.index == i);
    BOOST_TEST(page.image.width == 9 + i);
    BOOST_TEST(page.image.height == 19 + i);
    BOOST_TEST(page.dpi == 300.0);
  }
  BOOST_CHECK_THROW(doc->load(4), Error);
}

BOOST_AUTO_TEST_CASE(missing_required_tag_is_a_clear_error) {
  test::TempDir dir;
  // No ImageLength: libtiff refuses the directory.
  const auto path = (dir.path() / "broken.tif").string();
  test::write_bytes(path, raw_tiff({{256, kLong, 10}, {258, kShort, 8}, {262, kShort, 1}, {273, kLong, kHere},
                                    {279, kLong, 16}}));
  const std::string what = expect_error(path, 0, ErrorKind::Input);
  BOOST_TEST(what.find("cannot open as TIFF (") != std::string::npos, what);  // with libtiff's reason
}

BOOST_AUTO_TEST_CASE(strip_past_the_end_of_file_is_a_clear_error) {
  test::TempDir dir;
  const auto path = (dir.path() / "short.tif").string();
  test::write_bytes(path, raw_tiff({{256, kLong, 100}, {257, kLong, 100}, {258, kShort, 8}, {259, kShort, 1},
                                    {262, kShort, 1}, {273, kLong, 100000}, {277, kShort, 1}, {278, kLong, 100},
                                    {279, kLong, 10000}}));
  const std::string what = expect_error(path, 1, ErrorKind::Input);
  BOOST_TEST(what.find("page 1") != std::string::npos, what);
}

BOOST_AUTO_TEST_CASE(huge_header_is_refused_before_allocating) {
  test::TempDir dir;
  const auto path = (dir.path() / "bomb.tif").string();
  test::write_bytes(path, raw_tiff({{256, kLong, 200000}, {257, kLong, 200000}, {258, kShort, 1}, {259, kShort, 4},
                                    {262, kShort, 0}, {273, kLong, kHere}, {277, kShort, 1}, {278, kLong, 200000},
                                    {279, kLong, 16}}));
  const std::string what = expect_error(path, 1, ErrorKind::Limit);
  BOOST_TEST(what.find("pixel budget") != std::string::npos, what);
}

BOOST_AUTO_TEST_CASE(header_only_garbage_is_a_clear_error) {
  test::TempDir dir;
  const auto path = (dir.path() / "junk.tif").string();
  test::write_bytes(path, {'I', 'I', 42, 0, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3});
  expect_error(path, 0, ErrorKind::Input);
}

BOOST_AUTO_TEST_SUITE_END()
