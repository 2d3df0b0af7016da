// Writes TIFFs for the tests with libtiff: any compression, bit depth, photometric, orientation, page count.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <tiffio.h>

#include "common/image.hpp"

namespace folio::test {

struct TiffPageSpec {
  int width = 0, height = 0;
  int bits = 8, samples = 3;
  int photometric = PHOTOMETRIC_RGB;
  int compression = COMPRESSION_NONE;
  int orientation = ORIENTATION_TOPLEFT;
  int extra_sample = -1;  // EXTRASAMPLE_* for a 4th (or 2nd) alpha sample, -1 = none
  std::vector<std::uint16_t> colormap;  // 3 * 2^bits entries (r..., g..., b...) for palette images
  std::vector<std::uint8_t> data;       // packed rows, as stored (MSB-first bits, native-endian 16-bit)
  float dpi = 0;
};

inline std::size_t tiff_row_bytes(const TiffPageSpec& p) {
  return (static_cast<std::size_t>(p.width) * p.samples * p.bits + 7) / 8;
}

// False if libtiff refused (e.g. a codec it was built without).
inline bool write_tiff(const std::string& path, const std::vector<TiffPageSpec>& pages, bool bigtiff = false) {
  TIFF* tif = TIFFOpen(path.c_str(), bigtiff ? "w8" : "w");
  if (!tif) return false;
  bool ok = true;
  for (const TiffPageSpec& p : pages) {
    TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, p.width);
    TIFFSetField(tif, TIFFTAG_IMAGELENGTH, p.height);
    TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, p.bits);
    TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, p.samples);
    TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, p.photometric);
    TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(tif, TIFFTAG_COMPRESSION, p.compression);
    TIFFSetField(tif, TIFFTAG_ORIENTATION, p.orientation);
    TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, 16);
    if (p.dpi > 0) {
      TIFFSetField(tif, TIFFTAG_XRESOLUTION, p.dpi);
      TIFFSetField(tif, TIFFTAG_YRESOLUTION, p.dpi);
      TIFFSetField(tif, TIFFTAG_RESOLUTIONUNIT, RESUNIT_INCH);
    }
    if (p.extra_sample >= 0) {
      const std::uint16_t extra = static_cast<std::uint16_t>(p.extra_sample);
      TIFFSetField(tif, TIFFTAG_EXTRASAMPLES, 1, &extra);
    }
    if (!p.colormap.empty()) {
      const std::size_t n = std::size_t{1} << p.bits;
      TIFFSetField(tif, TIFFTAG_COLORMAP, p.colormap.data(), p.colormap.data() + n, p.colormap.data() + 2 * n);
    }
    if (p.compression == COMPRESSION_JPEG) TIFFSetField(tif, TIFFTAG_JPEGQUALITY, 95);
    std::vector<std::uint8_t> row(tiff_row_bytes(p));
    for (int y = 0; y < p.height && ok; ++y) {
      std::copy_n(p.data.begin() + static_cast<std::ptrdiff_t>(y * row.size()), row.size(), row.begin());
      ok = TIFFWriteScanline(tif, row.data(), static_cast<std::uint32_t>(y), 0) == 1;
    }
    ok = ok && TIFFWriteDirectory(tif);
  }
  TIFFClose(tif);
  return ok;
}

// Packs an image as TIFF samples of the given kind: 1-bit (photometric decides ink), 8/16-bit gray, RGB.
inline TiffPageSpec tiff_from(const RgbImage& img, int bits, int samples, int photometric) {
  TiffPageSpec p;
  p.width = img.width;
  p.height = img.height;
  p.bits = bits;
  p.samples = samples;
  p.photometric = photometric;
  p.data.assign(tiff_row_bytes(p) * img.height, 0);
  for (int y = 0; y < img.height; ++y) {
    std::uint8_t* row = p.data.data() + y * tiff_row_bytes(p);
    for (int x = 0; x < img.width; ++x) {
      const std::uint8_t* c = img.row(y) + 3 * x;
      if (bits == 1) {
        const bool black = c[0] < 128;
        const bool bit = photometric == PHOTOMETRIC_MINISWHITE ? black : !black;
        if (bit) row[x / 8] |= static_cast<std::uint8_t>(0x80 >> (x % 8));
      } else if (bits == 8) {
        for (int s = 0; s < samples; ++s) row[x * samples + s] = c[std::min(s, 2)];
      } else if (bits == 16) {
        auto* row16 = reinterpret_cast<std::uint16_t*>(row);
        for (int s = 0; s < samples; ++s) row16[x * samples + s] = static_cast<std::uint16_t>(c[std::min(s, 2)] * 257);
      }
    }
  }
  return p;
}

}  // namespace folio::test
