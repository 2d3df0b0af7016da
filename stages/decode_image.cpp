#include "stages/decode_image.hpp"

#include <fstream>
#include <iterator>

#include <fmt/format.h>
#include <leptonica/allheaders.h>

#include "common/error.hpp"
#include "stages/leptonica.hpp"
#include "stages/orientation.hpp"
#include "stages/pixel_budget.hpp"
#include "stages/sniff.hpp"

namespace folio::stages {

namespace {

// GIF's logical screen size sits in bytes 6..9; Leptonica's header reader would decode the whole file.
bool gif_size(std::span<const std::uint8_t> bytes, int& w, int& h) {
  if (bytes.size() < 10) return false;
  w = bytes[6] | bytes[7] << 8;
  h = bytes[8] | bytes[9] << 8;
  return true;
}

void header_size(std::span<const std::uint8_t> bytes, DocumentFormat format, const std::string& name, int& w,
                 int& h) {
  bool ok = false;
  if (format == DocumentFormat::Gif) {
    ok = gif_size(bytes, w, h);
  } else {
    l_int32 f = 0, bps = 0, spp = 0, iscmap = 0;
    ok = pixReadHeaderMem(bytes.data(), bytes.size(), &f, &w, &h, &bps, &spp, &iscmap) == 0;
  }
  if (!ok) {
    throw Error(ErrorKind::Input, fmt::format("cannot read the {} header (truncated or corrupt)", to_string(format)),
                {name});
  }
}

class ImageSource final : public PageSource {
 public:
  ImageSource(std::string path, DocumentFormat format, std::int64_t max_pixels)
      : path_(std::move(path)), format_(format), max_pixels_(max_pixels) {}
  int page_count() const override { return 1; }
  DocumentFormat format() const override { return format_; }
  const std::string& path() const override { return path_; }
  Page load(int index) const override {
    if (index != 1) {
      throw Error(ErrorKind::Usage, fmt::format("page {} does not exist (an image has 1 page)", index), {path_});
    }
    const std::vector<std::uint8_t> bytes = read_file_bytes(path_);
    DecodedImage decoded = decode_image(bytes, path_, max_pixels_);
    return Page{path_, 1, std::move(decoded.image), decoded.dpi};
  }

 private:
  std::string path_;
  DocumentFormat format_;
  std::int64_t max_pixels_;
};

}  // namespace

std::vector<std::uint8_t> read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::Io, "cannot open file", {path});
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(ErrorKind::Io, "cannot read file", {path});
  return bytes;
}

DecodedImage decode_image(std::span<const std::uint8_t> bytes, const std::string& name, std::int64_t max_pixels) {
  lept::install_message_handler();
  if (bytes.empty()) throw Error(ErrorKind::Input, "empty file (0 bytes)", {name});
  const DocumentFormat format = sniff_format(bytes);
  switch (format) {
    case DocumentFormat::Png:
    case DocumentFormat::Jpeg:
    case DocumentFormat::Bmp:
    case DocumentFormat::Pnm:
    case DocumentFormat::Gif:
    case DocumentFormat::WebP:
      break;
    case DocumentFormat::Unknown:
      throw Error(ErrorKind::Input,
                  fmt::format("not a supported document format (starts with {})", describe_head(bytes)), {name});
    default:
      throw Error(ErrorKind::Input, fmt::format("a {} is not a single image", to_string(format)), {name});
  }

  int w = 0, h = 0;
  header_size(bytes, format, name, w, h);
  check_pixel_budget(w, h, max_pixels, name, 1);

  lept::PixPtr pix(pixReadMem(bytes.data(), bytes.size()));
  if (!pix) {
    throw Error(ErrorKind::Input, fmt::format("cannot decode the {} data (truncated or corrupt)", to_string(format)),
                {name});
  }
  // The decoded size may differ from the header's (GIF frames, lying headers): check again.
  check_pixel_budget(pixGetWidth(pix.get()), pixGetHeight(pix.get()), max_pixels, name, 1);

  DecodedImage out;
  try {
    out.image = lept::to_rgb(pix.get());
  } catch (const Error& e) {
    throw e.with_file(name);
  }
  out.dpi = pixGetXRes(pix.get());
  if (format == DocumentFormat::Jpeg) out.image = apply_orientation(out.image, jpeg_exif_orientation(bytes));
  return out;
}

RgbImage read_image_file(const std::string& path, std::int64_t max_pixels) {
  const std::vector<std::uint8_t> bytes = read_file_bytes(path);
  return decode_image(bytes, path, max_pixels).image;
}

std::unique_ptr<PageSource> open_image(const std::string& path, const OpenOptions& options) {
  return std::make_unique<ImageSource>(path, sniff_file(path), options.max_pixels);
}

}  // namespace folio::stages
