#include "stages/leptonica.hpp"

#include <cstdint>
#include <mutex>
#include <string>

#include <leptonica/allheaders.h>
#include <spdlog/spdlog.h>

#include "common/error.hpp"

namespace folio::stages::lept {

void PixDeleter::operator()(Pix* pix) const noexcept {
  if (pix) pixDestroy(&pix);
}

namespace {

void route_to_spdlog(const char* message) {
  std::string text = message ? message : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  spdlog::debug("leptonica: {}", text);
}

// Leptonica packs samples big-endian inside 32-bit words (the first pixel in the most significant bits).
inline std::uint32_t sample(const l_uint32* line, int x, int depth) {
  const int per_word = 32 / depth;
  const int shift = 32 - depth * (x % per_word + 1);
  return (line[x / per_word] >> shift) & ((1u << depth) - 1u);
}

inline std::uint8_t over_white(std::uint32_t c, std::uint32_t a) {
  return static_cast<std::uint8_t>((c * a + 255u * (255u - a) + 127u) / 255u);
}

}  // namespace

void install_message_handler() {
  static std::once_flag once;
  std::call_once(once, [] { leptSetStderrHandler(route_to_spdlog); });
}

RgbImage to_rgb(Pix* pix) {
  if (!pix) throw Error(ErrorKind::Internal, "to_rgb: null PIX");
  const int w = pixGetWidth(pix);
  const int h = pixGetHeight(pix);
  const int d = pixGetDepth(pix);
  const int wpl = pixGetWpl(pix);
  const l_uint32* data = pixGetData(pix);
  PIXCMAP* cmap = pixGetColormap(pix);
  if (w <= 0 || h <= 0 || !data) throw Error(ErrorKind::Input, "decoded image is empty");

  RgbImage out(w, h);
  if (cmap) {
    // Expand the palette once, compositing any per-entry alpha (PNG tRNS) over white.
    const int n = pixcmapGetCount(cmap);
    std::uint8_t lut[256][3] = {};
    for (int i = 0; i < n && i < 256; ++i) {
      l_int32 r = 0, g = 0, b = 0, a = 255;
      pixcmapGetRGBA(cmap, i, &r, &g, &b, &a);
      lut[i][0] = over_white(static_cast<std::uint32_t>(r), static_cast<std::uint32_t>(a));
      lut[i][1] = over_white(static_cast<std::uint32_t>(g), static_cast<std::uint32_t>(a));
      lut[i][2] = over_white(static_cast<std::uint32_t>(b), static_cast<std::uint32_t>(a));
    }
    if (d != 1 && d != 2 && d != 4 && d != 8) throw Error(ErrorKind::Input, "unsupported colormapped depth");
    for (int y = 0; y < h; ++y) {
      const l_uint32* line = data + static_cast<std::size_t>(y) * wpl;
      std::uint8_t* o = out.row(y);
      for (int x = 0; x < w; ++x) {
        const std::uint32_t idx = sample(line, x, d);
        const std::uint8_t* c = idx < static_cast<std::uint32_t>(n) ? lut[idx] : lut[0];
        o[3 * x] = c[0];
        o[3 * x + 1] = c[1];
        o[3 * x + 2] = c[2];
      }
    }
    return out;
  }

  switch (d) {
    case 1:
    case 2:
    case 4:
    case 8:
    case 16: {
      for (int y = 0; y < h; ++y) {
        const l_uint32* line = data + static_cast<std::size_t>(y) * wpl;
        std::uint8_t* o = out.row(y);
        for (int x = 0; x < w; ++x) {
          const std::uint32_t v = sample(line, x, d);
          std::uint8_t g = 0;
          if (d == 1) g = v ? 0 : 255;  // Leptonica's 1 bpp convention: 1 is black ink
          else if (d == 2) g = static_cast<std::uint8_t>(v * 85);
          else if (d == 4) g = static_cast<std::uint8_t>(v * 17);
          else if (d == 8) g = static_cast<std::uint8_t>(v);
          else g = static_cast<std::uint8_t>(v >> 8);
          o[3 * x] = o[3 * x + 1] = o[3 * x + 2] = g;
        }
      }
      return out;
    }
    case 32: {
      const bool alpha = pixGetSpp(pix) == 4;
      for (int y = 0; y < h; ++y) {
        const l_uint32* line = data + static_cast<std::size_t>(y) * wpl;
        std::uint8_t* o = out.row(y);
        for (int x = 0; x < w; ++x) {
          const std::uint32_t p = line[x];
          const std::uint32_t r = p >> 24, g = (p >> 16) & 0xff, b = (p >> 8) & 0xff;
          const std::uint32_t a = alpha ? (p & 0xff) : 255u;
          o[3 * x] = alpha ? over_white(r, a) : static_cast<std::uint8_t>(r);
          o[3 * x + 1] = alpha ? over_white(g, a) : static_cast<std::uint8_t>(g);
          o[3 * x + 2] = alpha ? over_white(b, a) : static_cast<std::uint8_t>(b);
        }
      }
      return out;
    }
    default:
      throw Error(ErrorKind::Input, "unsupported pixel depth " + std::to_string(d));
  }
}

PixPtr from_rgb(const RgbImage& image) {
  PixPtr pix(pixCreate(image.width, image.height, 32));
  if (!pix) throw Error(ErrorKind::Internal, "cannot allocate a PIX");
  const int wpl = pixGetWpl(pix.get());
  l_uint32* data = pixGetData(pix.get());
  for (int y = 0; y < image.height; ++y) {
    const std::uint8_t* in = image.row(y);
    l_uint32* line = data + static_cast<std::size_t>(y) * wpl;
    for (int x = 0; x < image.width; ++x) {
      line[x] = (static_cast<l_uint32>(in[3 * x]) << 24) | (static_cast<l_uint32>(in[3 * x + 1]) << 16) |
                (static_cast<l_uint32>(in[3 * x + 2]) << 8) | 0xffu;
    }
  }
  return pix;
}

std::vector<std::uint8_t> encode_png(const RgbImage& image) {
  install_message_handler();
  PixPtr pix = from_rgb(image);
  l_uint8* data = nullptr;
  size_t size = 0;
  if (pixWriteMemPng(&data, &size, pix.get(), 0.0f) != 0 || !data) {
    throw Error(ErrorKind::Internal, "cannot encode PNG");
  }
  std::vector<std::uint8_t> bytes(data, data + size);
  lept_free(data);
  return bytes;
}

}  // namespace folio::stages::lept
