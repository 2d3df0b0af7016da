#include "stages/image_processor.hpp"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "stages/lanczos.hpp"

namespace folio::stages {
namespace {

// The processors' own ceiling on the longest edge (never reached by SmolVLM's settings).
constexpr int kMaxImageSize = 4096;
constexpr int kPilLanczos = 1;

[[noreturn]] void bad(const std::string& file, const std::string& key, const std::string& why) {
  throw Error(ErrorKind::Model, why, {file, std::nullopt, key});
}

bool get_bool(const nlohmann::json& j, const char* key, bool dflt, const std::string& file) {
  if (!j.contains(key) || j[key].is_null()) return dflt;
  if (!j[key].is_boolean()) bad(file, key, "must be true or false");
  return j[key].get<bool>();
}

int longest_edge_of(const nlohmann::json& j, const char* key, int dflt, const std::string& file) {
  if (!j.contains(key) || j[key].is_null()) return dflt;
  const auto& s = j[key];
  if (!s.is_object() || !s.contains("longest_edge"))
    bad(file, key, "must be an object with \"longest_edge\" (height/width sizes are not used by this processor)");
  if (!s["longest_edge"].is_number_integer() || s["longest_edge"].get<long long>() < 1 ||
      s["longest_edge"].get<long long>() > kMaxImageSize)
    bad(file, std::string(key) + ".longest_edge", "must be an integer in 1.." + std::to_string(kMaxImageSize));
  return s["longest_edge"].get<int>();
}

std::array<float, 3> triple(const nlohmann::json& j, const char* key, std::array<float, 3> dflt, const std::string& file) {
  if (!j.contains(key) || j[key].is_null()) return dflt;
  const auto& v = j[key];
  if (v.is_number()) return {v.get<float>(), v.get<float>(), v.get<float>()};
  if (!v.is_array() || v.size() != 3) bad(file, key, "must be a number or a list of 3 numbers");
  std::array<float, 3> out{};
  for (int i = 0; i < 3; ++i) {
    if (!v[i].is_number()) bad(file, key, "must hold numbers");
    out[i] = v[i].get<float>();
  }
  return out;
}

// transformers' _resize_output_size_rescale_to_max_len, then _resize_output_size_scale_below_upper_bound.
void resize_longest_edge(int& w, int& h, int max_len) {
  const double ar = static_cast<double>(w) / h;
  if (w >= h) {
    w = max_len;
    h = static_cast<int>(w / ar);
    if (h % 2 != 0) ++h;
  } else {
    h = max_len;
    w = static_cast<int>(h * ar);
    if (w % 2 != 0) ++w;
  }
  h = std::max(h, 1);
  w = std::max(w, 1);
  const double ar2 = static_cast<double>(w) / h;
  if (w >= h && w > kMaxImageSize) {
    w = kMaxImageSize;
    h = static_cast<int>(w / ar2);
  } else if (h > w && h > kMaxImageSize) {
    h = kMaxImageSize;
    w = static_cast<int>(h * ar2);
  }
  h = std::max(h, 1);
  w = std::max(w, 1);
}

int ceil_to(double v, int t) { return static_cast<int>(std::ceil(v / t)) * t; }

// resize_for_vision_encoder: both edges up to tile multiples, the aspect ratio taken from the input.
void snap_to_tiles(int& w, int& h, int t) {
  const double ar = static_cast<double>(w) / h;
  if (w >= h) {
    w = ceil_to(w, t);
    h = ceil_to(static_cast<int>(w / ar), t);
  } else {
    h = ceil_to(h, t);
    w = ceil_to(static_cast<int>(h * ar), t);
  }
}

RgbImage crop(const RgbImage& image, int x0, int y0, int x1, int y1) {
  RgbImage out(x1 - x0, y1 - y0);
  for (int y = y0; y < y1; ++y)
    std::copy(image.row(y) + x0 * 3, image.row(y) + x1 * 3, out.row(y - y0));
  return out;
}

}  // namespace

ImageProcessorConfig ImageProcessorConfig::from_json(const nlohmann::json& j, const std::string& file) {
  if (!j.is_object()) throw Error(ErrorKind::Model, "not a JSON object", {file});
  ImageProcessorConfig c;
  c.do_convert_rgb = get_bool(j, "do_convert_rgb", c.do_convert_rgb, file);
  c.do_resize = get_bool(j, "do_resize", c.do_resize, file);
  c.longest_edge = longest_edge_of(j, "size", c.longest_edge, file);
  c.do_image_splitting = get_bool(j, "do_image_splitting", c.do_image_splitting, file);
  c.tile_size = longest_edge_of(j, "max_image_size", c.tile_size, file);
  c.do_rescale = get_bool(j, "do_rescale", c.do_rescale, file);
  if (j.contains("rescale_factor") && !j["rescale_factor"].is_null()) {
    if (!j["rescale_factor"].is_number() || j["rescale_factor"].get<double>() <= 0)
      bad(file, "rescale_factor", "must be a positive number");
    c.rescale_factor = j["rescale_factor"].get<double>();
  }
  c.do_normalize = get_bool(j, "do_normalize", c.do_normalize, file);
  c.image_mean = triple(j, "image_mean", c.image_mean, file);
  c.image_std = triple(j, "image_std", c.image_std, file);
  for (float s : c.image_std)
    if (!(s != 0.0f)) bad(file, "image_std", "must not be zero");
  c.do_pad = get_bool(j, "do_pad", c.do_pad, file);
  if (j.contains("resample") && !j["resample"].is_null()) {
    if (!j["resample"].is_number_integer() || j["resample"].get<int>() != kPilLanczos)
      bad(file, "resample", "only resample 1 (PIL LANCZOS) is supported, the filter SmolVLM was trained with");
  }
  if (c.do_image_splitting && c.do_resize && c.longest_edge < c.tile_size)
    bad(file, "size.longest_edge", "is smaller than max_image_size.longest_edge");
  return c;
}

ImageProcessorConfig ImageProcessorConfig::load(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw Error(ErrorKind::Model, "cannot read the image processor config", {path.string()});
  auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw Error(ErrorKind::Model, "not valid JSON", {path.string()});
  return from_json(j, path.string());
}

ResizePlan plan_resize(int width, int height, const ImageProcessorConfig& c) {
  if (width < 1 || height < 1) throw Error(ErrorKind::Input, "empty image");
  ResizePlan p;
  p.width = width;
  p.height = height;
  p.resized_width = width;
  p.resized_height = height;
  if (c.do_resize) resize_longest_edge(p.resized_width, p.resized_height, c.longest_edge);
  p.snapped_width = p.resized_width;
  p.snapped_height = p.resized_height;
  if (c.do_image_splitting) {
    snap_to_tiles(p.snapped_width, p.snapped_height, c.tile_size);
    if (p.snapped_height > c.tile_size || p.snapped_width > c.tile_size) {
      p.rows = (p.snapped_height + c.tile_size - 1) / c.tile_size;
      p.cols = (p.snapped_width + c.tile_size - 1) / c.tile_size;
    }
  } else {
    p.snapped_width = p.snapped_height = c.tile_size;
  }
  p.frames = p.rows * p.cols + 1;
  return p;
}

Tiles tile_image(const RgbImage& image, const ImageProcessorConfig& c) {
  const ResizePlan p = plan_resize(image.width, image.height, c);
  RgbImage resized = resize_lanczos(image, p.resized_width, p.resized_height);
  RgbImage snapped = resize_lanczos(resized, p.snapped_width, p.snapped_height);
  resized = RgbImage();
  Tiles t;
  t.tile_size = c.tile_size;
  t.rows = p.rows;
  t.cols = p.cols;
  if (p.rows > 0) {
    // transformers' split_image: equal crops of ceil(size / splits), clipped at the edges.
    const int th = (snapped.height + p.rows - 1) / p.rows;
    const int tw = (snapped.width + p.cols - 1) / p.cols;
    for (int r = 0; r < p.rows; ++r)
      for (int col = 0; col < p.cols; ++col) {
        const int x0 = col * tw, y0 = r * th;
        t.frames.push_back(crop(snapped, x0, y0, std::min(x0 + tw, snapped.width), std::min(y0 + th, snapped.height)));
      }
    t.frames.push_back(resize_lanczos(snapped, c.tile_size, c.tile_size));  // the global image, aspect not kept
  } else {
    t.frames.push_back(std::move(snapped));
  }
  return t;
}

std::vector<float> to_pixel_values(const Tiles& tiles, const ImageProcessorConfig& c) {
  const int T = tiles.tile_size;
  const std::size_t plane = static_cast<std::size_t>(T) * T;
  std::vector<float> out(tiles.frames.size() * 3 * plane);
  // 256-entry tables: the same float32 arithmetic as transformers (rescale in float64 then cast, then
  // (x - mean) / std in float32), done once per grey level.
  float table[3][256];
  for (int ch = 0; ch < 3; ++ch)
    for (int v = 0; v < 256; ++v) {
      float x = c.do_rescale ? static_cast<float>(v * c.rescale_factor) : static_cast<float>(v);
      if (c.do_normalize) x = (x - c.image_mean[ch]) / c.image_std[ch];
      table[ch][v] = x;
    }
  for (std::size_t f = 0; f < tiles.frames.size(); ++f) {
    const RgbImage& im = tiles.frames[f];
    if (im.width != T || im.height != T)
      throw Error(ErrorKind::Internal, "frame " + std::to_string(f) + " is " + std::to_string(im.width) + "x" +
                                           std::to_string(im.height) + ", not " + std::to_string(T) + "x" +
                                           std::to_string(T));
    float* dst = out.data() + f * 3 * plane;
    const std::uint8_t* src = im.pixels.data();
    for (std::size_t i = 0; i < plane; ++i) {
      dst[i] = table[0][src[i * 3 + 0]];
      dst[plane + i] = table[1][src[i * 3 + 1]];
      dst[2 * plane + i] = table[2][src[i * 3 + 2]];
    }
  }
  return out;
}

}  // namespace folio::stages
