// RAII for Leptonica handles, conversions between PIX and RgbImage, and Leptonica's stderr chatter.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "common/image.hpp"

struct Pix;  // Leptonica's PIX (typedef struct Pix PIX)

namespace folio::stages::lept {

struct PixDeleter {
  void operator()(Pix* pix) const noexcept;
};
// Owns one PIX reference; pixDestroy on scope exit.
using PixPtr = std::unique_ptr<Pix, PixDeleter>;

// Leptonica writes warnings to stderr from a global handler: route them to spdlog (debug) once per process.
void install_message_handler();

// Any depth (1/2/4/8 with or without colormap, 16, 24, 32 with or without alpha) -> 8-bit RGB. Alpha is
// composited over white; 16-bit samples keep their high byte. Throws folio::Error(Input) on an unknown layout.
RgbImage to_rgb(Pix* pix);

// 32 bpp RGB PIX from an RgbImage (for clean-up and the PNG writer).
PixPtr from_rgb(const RgbImage& image);

// The image as PNG file bytes (Leptonica's writer, 8-bit RGB). Throws folio::Error(Internal) on failure.
std::vector<std::uint8_t> encode_png(const RgbImage& image);

}  // namespace folio::stages::lept
