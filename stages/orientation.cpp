#include "stages/orientation.hpp"

#include <cstring>

namespace folio::stages {

RgbImage apply_orientation(const RgbImage& stored, int orientation) {
  if (orientation < 2 || orientation > 8) return stored;
  const int w = stored.width;
  const int h = stored.height;
  const bool transposed = orientation >= 5;
  RgbImage out(transposed ? h : w, transposed ? w : h);
  for (int r = 0; r < h; ++r) {
    const std::uint8_t* in = stored.row(r);
    for (int c = 0; c < w; ++c) {
      // Where stored pixel (row r, column c) lands on the upright page.
      int x = c, y = r;
      switch (orientation) {
        case 2: x = w - 1 - c; y = r; break;
        case 3: x = w - 1 - c; y = h - 1 - r; break;
        case 4: x = c; y = h - 1 - r; break;
        case 5: x = r; y = c; break;
        case 6: x = h - 1 - r; y = c; break;
        case 7: x = h - 1 - r; y = w - 1 - c; break;
        case 8: x = r; y = w - 1 - c; break;
        default: break;
      }
      std::memcpy(out.row(y) + 3 * static_cast<std::size_t>(x), in + 3 * static_cast<std::size_t>(c), 3);
    }
  }
  return out;
}

namespace {

// A bounds-checked reader over the TIFF structure inside the Exif segment.
struct TiffView {
  std::span<const std::uint8_t> bytes;
  bool little = true;

  bool u16(std::size_t at, unsigned& v) const {
    if (at + 2 > bytes.size()) return false;
    v = little ? (bytes[at] | bytes[at + 1] << 8) : (bytes[at] << 8 | bytes[at + 1]);
    return true;
  }
  bool u32(std::size_t at, std::uint32_t& v) const {
    if (at + 4 > bytes.size()) return false;
    const std::uint32_t b0 = bytes[at], b1 = bytes[at + 1], b2 = bytes[at + 2], b3 = bytes[at + 3];
    v = little ? (b0 | b1 << 8 | b2 << 16 | b3 << 24) : (b0 << 24 | b1 << 16 | b2 << 8 | b3);
    return true;
  }
};

int orientation_from_exif(std::span<const std::uint8_t> exif) {
  // exif = "Exif\0\0" + TIFF header + IFD0.
  if (exif.size() < 14 || std::memcmp(exif.data(), "Exif\0\0", 6) != 0) return 1;
  TiffView t{exif.subspan(6)};
  if (t.bytes[0] == 'I' && t.bytes[1] == 'I') t.little = true;
  else if (t.bytes[0] == 'M' && t.bytes[1] == 'M') t.little = false;
  else return 1;
  std::uint32_t ifd = 0;
  unsigned count = 0;
  if (!t.u32(4, ifd) || !t.u16(ifd, count)) return 1;
  for (unsigned i = 0; i < count; ++i) {
    const std::size_t entry = static_cast<std::size_t>(ifd) + 2 + 12 * static_cast<std::size_t>(i);
    unsigned tag = 0, type = 0, value = 0;
    if (!t.u16(entry, tag) || !t.u16(entry + 2, type)) return 1;
    if (tag != 0x0112) continue;
    if (type != 3 || !t.u16(entry + 8, value)) return 1;  // SHORT, stored inline
    return (value >= 1 && value <= 8) ? static_cast<int>(value) : 1;
  }
  return 1;
}

}  // namespace

int jpeg_exif_orientation(std::span<const std::uint8_t> jpeg) {
  if (jpeg.size() < 4 || jpeg[0] != 0xff || jpeg[1] != 0xd8) return 1;
  std::size_t at = 2;
  // Walk the marker segments before the image data; Exif lives in an APP1 among them.
  while (at + 4 <= jpeg.size()) {
    if (jpeg[at] != 0xff) return 1;
    const std::uint8_t marker = jpeg[at + 1];
    if (marker == 0xff) { ++at; continue; }  // fill byte
    if (marker == 0xd9 || marker == 0xda) return 1;  // end of image / start of scan: no Exif before data
    if (marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { at += 2; continue; }  // no length
    const std::size_t length = static_cast<std::size_t>(jpeg[at + 2]) << 8 | jpeg[at + 3];
    if (length < 2 || at + 2 + length > jpeg.size()) return 1;
    if (marker == 0xe1) {
      const int o = orientation_from_exif(jpeg.subspan(at + 4, length - 2));
      if (o != 1) return o;
    }
    at += 2 + length;
  }
  return 1;
}

}  // namespace folio::stages
