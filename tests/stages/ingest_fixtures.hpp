// Small helpers shared by the ingestion tests: build images and encode them with Leptonica.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <leptonica/allheaders.h>

#include "common/image.hpp"
#include "stages/leptonica.hpp"

namespace folio::test {

// A white image with a black square in the top-left corner: orientation shows where that corner lands.
inline RgbImage corner_marked(int w, int h, int mark = 8) {
  RgbImage img(w, h);
  std::fill(img.pixels.begin(), img.pixels.end(), std::uint8_t{255});
  for (int y = 0; y < mark && y < h; ++y)
    for (int x = 0; x < mark && x < w; ++x) img.row(y)[3 * x] = img.row(y)[3 * x + 1] = img.row(y)[3 * x + 2] = 0;
  return img;
}

inline const std::uint8_t* px(const RgbImage& img, int x, int y) { return img.row(y) + 3 * x; }

inline bool dark(const RgbImage& img, int x, int y) { return px(img, x, y)[0] < 64; }

// Which corner holds the dark mark: 0 top-left, 1 top-right, 2 bottom-right, 3 bottom-left; -1 if none/many.
inline int dark_corner(const RgbImage& img) {
  const int xs[4] = {1, img.width - 2, img.width - 2, 1};
  const int ys[4] = {1, 1, img.height - 2, img.height - 2};
  int found = -1;
  for (int i = 0; i < 4; ++i) {
    if (dark(img, xs[i], ys[i])) {
      if (found != -1) return -1;
      found = i;
    }
  }
  return found;
}

inline std::vector<std::uint8_t> encode_pix(Pix* pix, int iff) {
  l_uint8* data = nullptr;
  size_t size = 0;
  if (pixWriteMem(&data, &size, pix, iff) != 0 || !data) return {};
  std::vector<std::uint8_t> out(data, data + size);
  lept_free(data);
  return out;
}

inline void write_bytes(const std::filesystem::path& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// The JPEG with an APP1 Exif segment holding only an Orientation tag, right after SOI.
inline std::vector<std::uint8_t> with_exif_orientation(const std::vector<std::uint8_t>& jpeg, int orientation,
                                                       bool big_endian = false) {
  std::vector<std::uint8_t> tiff;
  auto put16 = [&](unsigned v) {
    if (big_endian) { tiff.push_back((v >> 8) & 0xff); tiff.push_back(v & 0xff); }
    else { tiff.push_back(v & 0xff); tiff.push_back((v >> 8) & 0xff); }
  };
  auto put32 = [&](unsigned v) {
    if (big_endian) { put16(v >> 16); put16(v & 0xffff); } else { put16(v & 0xffff); put16(v >> 16); }
  };
  tiff.push_back(big_endian ? 'M' : 'I');
  tiff.push_back(big_endian ? 'M' : 'I');
  put16(42);
  put32(8);
  put16(2);                        // two entries: a harmless one first, then Orientation
  put16(0x010f); put16(2); put32(4); put32(0x00414141);  // Make "AAA"
  put16(0x0112); put16(3); put32(1); put16(static_cast<unsigned>(orientation)); put16(0);
  put32(0);
  std::vector<std::uint8_t> app1 = {0xff, 0xe1, 0, 0, 'E', 'x', 'i', 'f', 0, 0};
  app1.insert(app1.end(), tiff.begin(), tiff.end());
  const std::size_t length = app1.size() - 2;
  app1[2] = static_cast<std::uint8_t>(length >> 8);
  app1[3] = static_cast<std::uint8_t>(length & 0xff);
  std::vector<std::uint8_t> out = jpeg;
  out.insert(out.begin() + 2, app1.begin(), app1.end());
  return out;
}

}  // namespace folio::test
