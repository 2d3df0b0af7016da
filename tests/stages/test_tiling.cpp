// The image processor against HF transformers' own output (../shared/reference/tiny-a/cases/*), and the
// resampler against an independent double-precision evaluation of Pillow's formulas.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numbers>
#include <random>

#include "common/error.hpp"
#include "engine/io/npz.hpp"
#include "engine/io/safetensors.hpp"
#include "stages/decode_image.hpp"
#include "stages/image_processor.hpp"
#include "stages/lanczos.hpp"
#include "support/paths.hpp"

namespace fs = std::filesystem;
using folio::RgbImage;
using namespace folio::stages;

namespace {

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

std::vector<fs::path> golden_cases() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(folio::test::reference_dir() / "tiny-a" / "cases"))
    if (fs::exists(e.path() / "golden.json")) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// Pillow's LANCZOS evaluated straight from its definition, one output pixel at a time, in double
// precision for the weights; the fixed-point rounding is the documented one.
int reference_1d(const std::vector<int>& in, int out_size, int xx) {
  const int in_size = static_cast<int>(in.size());
  const double scale = static_cast<double>(in_size) / out_size, fs = std::max(scale, 1.0), support = 3 * fs;
  const double center = (xx + 0.5) * scale;
  const int xmin = std::max(static_cast<int>(center - support + 0.5), 0);
  const int xmax = std::min(static_cast<int>(center + support + 0.5), in_size);
  auto sinc = [](double t) { return t == 0 ? 1.0 : std::sin(std::numbers::pi * t) / (std::numbers::pi * t); };
  auto lanczos = [&](double t) { return (t >= -3 && t < 3) ? sinc(t) * sinc(t / 3) : 0.0; };
  std::vector<double> w;
  double total = 0;
  for (int k = xmin; k < xmax; ++k) {
    w.push_back(lanczos((k - center + 0.5) / fs));
    total += w.back();
  }
  long long acc = 1 << 21;
  for (int k = xmin; k < xmax; ++k) {
    const double wn = w[k - xmin] / total;
    acc += static_cast<long long>(std::lround(wn * (1 << 22))) * in[k];  // lround: half away from zero
  }
  return static_cast<int>(std::clamp(acc >> 22, 0LL, 255LL));
}

RgbImage random_image(int w, int h, unsigned seed) {
  std::mt19937 rng(seed);
  RgbImage im(w, h);
  for (auto& v : im.pixels) v = static_cast<std::uint8_t>(rng() & 255);
  return im;
}

ImageProcessorConfig config(int longest, int tile) {
  ImageProcessorConfig c;
  c.longest_edge = longest;
  c.tile_size = tile;
  return c;
}


// The tolerance golden.json recommends for a tensor ("atol 1e-6 given exact u8"): the number after "atol".
double manifest_atol(const nlohmann::json& golden, const std::string& tensor) {
  const std::string text = golden.at("recommended_tolerances_fp32").at(tensor).get<std::string>();
  const auto p = text.find("atol ");
  BOOST_TEST_REQUIRE(p != std::string::npos, "no atol for " << tensor << " in golden.json: " << text);
  return std::stod(text.substr(p + 5));
}

// The float pixel values transformers fed to the vision tower, [frames, 3, T, T]. The reference keeps
// frame 0 as floats (pixel_values_tile0) and every frame as uint8; golden.json documents the formula
// that maps the uint8 frames to those floats bitwise. Frame 0 proves that formula on the golden data
// (bit for bit), then the others are derived from the golden uint8 with it and the manifest's own
// rescale factor, mean and std, so that no frame goes unchecked.
std::vector<float> golden_pixel_values(const fs::path& dir, const nlohmann::json& golden) {
  const auto& where = golden.at("tensor_locations").at("pixel_values_tile0");
  std::string npz;
  for (const auto& f : where)
    if (f.get<std::string>().ends_with(".npz")) npz = f.get<std::string>();
  BOOST_TEST_REQUIRE(!npz.empty(), "golden.json lists no .npz for pixel_values_tile0");
  const auto arrays = folio::engine::read_npz(dir / npz);
  BOOST_TEST_REQUIRE(arrays.count("pixel_values_tile0") == 1u);
  BOOST_TEST_REQUIRE(arrays.count("pixel_values_u8") == 1u);
  const auto& tile0 = arrays.at("pixel_values_tile0");
  const auto& u8 = arrays.at("pixel_values_u8");
  BOOST_TEST_REQUIRE(tile0.dtype == "<f4");
  BOOST_TEST_REQUIRE(u8.dtype == "|u1");
  BOOST_TEST_REQUIRE((tile0.shape == golden.at("tensors").at("pixel_values_tile0").at("shape").get<std::vector<std::int64_t>>()));
  BOOST_TEST_REQUIRE((u8.shape == golden.at("tensors").at("pixel_values_u8").at("shape").get<std::vector<std::int64_t>>()));
  BOOST_TEST_REQUIRE((std::vector<std::int64_t>(u8.shape.begin() + 1, u8.shape.end()) == tile0.shape));

  const auto& proc = golden.at("processor").at("image_processor_config");
  const double rescale = proc.at("rescale_factor").get<double>();
  const auto mean = proc.at("image_mean").get<std::vector<float>>(), std_ = proc.at("image_std").get<std::vector<float>>();
  const std::size_t plane = static_cast<std::size_t>(u8.shape[2] * u8.shape[3]), frame = 3 * plane;
  std::vector<float> out(u8.bytes.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::size_t ch = i % frame / plane;
    out[i] = (static_cast<float>(u8.bytes[i] * rescale) - mean[ch]) / std_[ch];
  }
  const auto f0 = tile0.as_f32();
  std::size_t differ = 0;
  for (std::size_t i = 0; i < frame; ++i) differ += std::memcmp(&f0[i], &out[i], sizeof(float)) != 0;
  BOOST_TEST_REQUIRE(differ == 0u, "the documented formula does not give pixel_values_tile0 bitwise");
  std::copy(f0.begin(), f0.end(), out.begin());  // frame 0 as stored, not as derived
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tiling)

BOOST_AUTO_TEST_CASE(lanczos_rows_match_the_formula) {
  // One row resized horizontally (the vertical pass is skipped for an unchanged height).
  for (auto [in_w, out_w] : std::vector<std::pair<int, int>>{{17, 5}, {5, 17}, {100, 33}, {33, 100}, {1, 7}, {7, 1}, {64, 64 * 3 + 1}}) {
    RgbImage im = random_image(in_w, 1, in_w * 31 + out_w);
    RgbImage out = resize_lanczos(im, out_w, 1);
    for (int ch = 0; ch < 3; ++ch) {
      std::vector<int> row;
      for (int x = 0; x < in_w; ++x) row.push_back(im.pixels[x * 3 + ch]);
      for (int x = 0; x < out_w; ++x)
        BOOST_TEST(int(out.pixels[x * 3 + ch]) == reference_1d(row, out_w, x), in_w << "->" << out_w << " x=" << x);
    }
  }
}

BOOST_AUTO_TEST_CASE(lanczos_is_separable_with_an_8bit_intermediate) {
  RgbImage im = random_image(23, 19, 7);
  RgbImage out = resize_lanczos(im, 11, 40);
  // Horizontal first, rounded to 8 bits, then vertical: computed here from the 1-D reference.
  std::vector<std::vector<int>> mid(19, std::vector<int>(11 * 3));
  for (int y = 0; y < 19; ++y)
    for (int ch = 0; ch < 3; ++ch) {
      std::vector<int> row;
      for (int x = 0; x < 23; ++x) row.push_back(im.row(y)[x * 3 + ch]);
      for (int x = 0; x < 11; ++x) mid[y][x * 3 + ch] = reference_1d(row, 11, x);
    }
  for (int x = 0; x < 11; ++x)
    for (int ch = 0; ch < 3; ++ch) {
      std::vector<int> col;
      for (int y = 0; y < 19; ++y) col.push_back(mid[y][x * 3 + ch]);
      for (int y = 0; y < 40; ++y) BOOST_TEST(int(out.row(y)[x * 3 + ch]) == reference_1d(col, 40, y));
    }
  BOOST_TEST((resize_lanczos(im, 23, 19).pixels == im.pixels));  // identity is a copy
}

BOOST_AUTO_TEST_CASE(plans_match_the_spec_worked_examples) {
  struct Case {
    int w, h, longest, tile, rw, rh, sw, sh, rows, cols;
  };
  // ../shared/docs/smolvlm-spec.md section 3, worked examples.
  for (const Case& c : std::vector<Case>{{850, 1100, 2048, 512, 1582, 2048, 2048, 2048, 4, 4},
                                         {850, 1100, 1536, 384, 1186, 1536, 1536, 1536, 4, 4},
                                         {600, 300, 2048, 512, 2048, 1024, 2048, 1024, 2, 4},
                                         {600, 300, 1536, 384, 1536, 768, 1536, 768, 2, 4},
                                         {300, 600, 2048, 512, 1024, 2048, 1024, 2048, 4, 2}}) {
    auto p = plan_resize(c.w, c.h, config(c.longest, c.tile));
    BOOST_TEST(p.resized_width == c.rw);
    BOOST_TEST(p.resized_height == c.rh);
    BOOST_TEST(p.snapped_width == c.sw);
    BOOST_TEST(p.snapped_height == c.sh);
    BOOST_TEST(p.rows == c.rows);
    BOOST_TEST(p.cols == c.cols);
    BOOST_TEST(p.frames == c.rows * c.cols + 1);
  }
  // An image that is exactly one tile after resizing is not split.
  auto p = plan_resize(300, 300, config(512, 512));
  BOOST_TEST(p.rows == 0);
  BOOST_TEST(p.frames == 1);
  auto t = tile_image(random_image(40, 30, 3), config(512, 512));
  BOOST_TEST(t.frames.size() == 1u);
  BOOST_TEST(t.frames[0].width == 512);
  BOOST_TEST(t.frames[0].height == 512);
}

BOOST_AUTO_TEST_CASE(tiles_match_transformers_bit_for_bit) {
  const fs::path checkpoint = folio::test::reference_dir() / "tiny-a" / "checkpoint";
  const auto cfg = ImageProcessorConfig::load(checkpoint / "preprocessor_config.json");
  const auto cases = golden_cases();
  BOOST_TEST_REQUIRE(!cases.empty());
  for (const auto& dir : cases) {
    BOOST_TEST_CONTEXT(dir.filename().string()) {
      const auto golden = read_json(dir / "golden.json");
      const auto& proc = golden["processor"];
      const RgbImage image =
          read_image_file((folio::test::reference_dir() / "tiny-a" / "images" / golden["image"]["file"].get<std::string>()).string());
      const auto plan = plan_resize(image.width, image.height, cfg);
      const auto& stages_hw = proc["resize_stages"];
      BOOST_TEST(plan.resized_height == stages_hw["after_resize_longest_edge_hw"][0].get<int>());
      BOOST_TEST(plan.resized_width == stages_hw["after_resize_longest_edge_hw"][1].get<int>());
      BOOST_TEST(plan.snapped_height == stages_hw["after_resize_to_tile_multiple_hw"][0].get<int>());
      BOOST_TEST(plan.snapped_width == stages_hw["after_resize_to_tile_multiple_hw"][1].get<int>());

      const Tiles tiles = tile_image(image, cfg);
      BOOST_TEST(tiles.rows == proc["rows"].get<int>());
      BOOST_TEST(tiles.cols == proc["cols"].get<int>());
      BOOST_TEST_REQUIRE(static_cast<int>(tiles.frames.size()) == proc["num_tiles"].get<int>());

      folio::engine::SafetensorsFile st(dir / "golden.safetensors");
      const auto& u8 = st.at("pixel_values_u8");
      BOOST_TEST_REQUIRE((u8.dtype == folio::engine::DType::U8));
      const int T = tiles.tile_size;
      BOOST_TEST_REQUIRE((u8.shape == std::vector<std::int64_t>{static_cast<std::int64_t>(tiles.frames.size()), 3, T, T}));
      const auto* gold = reinterpret_cast<const std::uint8_t*>(u8.bytes.data());
      std::size_t mismatches = 0;
      for (std::size_t f = 0; f < tiles.frames.size(); ++f)
        for (int ch = 0; ch < 3; ++ch)
          for (int i = 0; i < T * T; ++i)
            if (tiles.frames[f].pixels[static_cast<std::size_t>(i) * 3 + ch] !=
                gold[(f * 3 + ch) * static_cast<std::size_t>(T) * T + i])
              ++mismatches;
      BOOST_TEST(mismatches == 0u);

      // Float pixel values, every value of every frame, against the golden float arrays.
      const auto pv = to_pixel_values(tiles, cfg);
      const std::size_t frame_size = 3 * static_cast<std::size_t>(T) * T;
      BOOST_TEST_REQUIRE(pv.size() == tiles.frames.size() * frame_size);
      const auto golden_pv = golden_pixel_values(dir, golden);
      BOOST_TEST_REQUIRE(golden_pv.size() == pv.size());
      const double atol = manifest_atol(golden, "pixel_values_tile0");
      std::size_t outside = 0;
      double worst = 0;
      for (std::size_t i = 0; i < pv.size(); ++i) {
        const double d = std::abs(static_cast<double>(pv[i]) - golden_pv[i]);
        worst = std::max(worst, d);
        if (!(d <= atol)) ++outside;
      }
      BOOST_TEST(outside == 0u, outside << " values differ by more than " << atol << "; max |diff| " << worst);
    }
  }
}

BOOST_AUTO_TEST_CASE(config_errors_name_file_and_key) {
  auto expect = [](const nlohmann::json& j, const std::string& needle) {
    try {
      ImageProcessorConfig::from_json(j, "pp.json");
      BOOST_ERROR("accepted " << j.dump());
    } catch (const folio::Error& e) {
      BOOST_TEST(std::string(e.what()).find(needle) != std::string::npos, e.what());
      BOOST_TEST(std::string(e.what()).find("pp.json") != std::string::npos);
    }
  };
  expect({{"resample", 3}}, "resample");
  expect({{"size", {{"height", 10}, {"width", 10}}}}, "size");
  expect({{"max_image_size", {{"longest_edge", -1}}}}, "max_image_size.longest_edge");
  expect({{"image_std", {0.5, 0.0, 0.5}}}, "image_std");
  expect({{"do_resize", "yes"}}, "do_resize");
  auto c = ImageProcessorConfig::from_json({{"size", {{"longest_edge", 1536}}}, {"max_image_size", {{"longest_edge", 384}}}});
  BOOST_TEST(c.longest_edge == 1536);
  BOOST_TEST(c.tile_size == 384);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(tiling_cli)

// `folio pages --tiles` writes exactly the frames tile_image makes, named by 1-based row and column.
BOOST_AUTO_TEST_CASE(pages_tiles_writes_every_frame) {
  const std::string bin = folio::test::folio_bin();
  if (!fs::exists(bin)) {
    BOOST_TEST_MESSAGE("folio binary not built; skipping");
    return;
  }
  folio::test::TempDir out;
  const fs::path checkpoint = folio::test::reference_dir() / "tiny-a" / "checkpoint";
  const std::string cmd = bin + " pages " + (folio::test::samples_dir() / "invoice.pdf").string() +
                          " --pages 1 --tiles --model " + checkpoint.string() + " --out " + out.path().string() +
                          " > /dev/null";
  BOOST_TEST_REQUIRE(std::system(cmd.c_str()) == 0);
  const auto cfg = ImageProcessorConfig::load(checkpoint / "preprocessor_config.json");
  const RgbImage page = read_image_file((out.path() / "page-0001.png").string());
  BOOST_TEST(std::max(page.width, page.height) == cfg.longest_edge);  // rendered at the model's size
  const Tiles tiles = tile_image(page, cfg);
  std::size_t f = 0;
  for (int r = 1; r <= tiles.rows; ++r)
    for (int c = 1; c <= tiles.cols; ++c) {
      const auto tile = read_image_file((out.path() / ("page-0001-r" + std::to_string(r) + "-c" + std::to_string(c) + ".png")).string());
      BOOST_TEST((tile.pixels == tiles.frames[f++].pixels));
    }
  BOOST_TEST((read_image_file((out.path() / "page-0001-global.png").string()).pixels == tiles.frames.back().pixels));
}

BOOST_AUTO_TEST_SUITE_END()
