#include "stages/decode_tiff.hpp"

#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <tiffio.h>

#include "common/error.hpp"
#include "stages/orientation.hpp"
#include "stages/pixel_budget.hpp"

namespace folio::stages {

namespace {

// libtiff's messages for one open file, carried through TIFFOpenExt's user data (no global state).
struct TiffMessages {
  std::string errors;
};

std::string format_message(const char* module, const char* fmt, va_list ap) {
  char buffer[1024];
  std::vsnprintf(buffer, sizeof buffer, fmt, ap);
  return module && *module ? fmt::format("{}: {}", module, buffer) : std::string(buffer);
}

int collect_error(TIFF*, void* user_data, const char* module, const char* fmt, va_list ap) {
  auto* messages = static_cast<TiffMessages*>(user_data);
  const std::string text = format_message(module, fmt, ap);
  if (messages) {
    if (!messages->errors.empty()) messages->errors += "; ";
    messages->errors += text;
  }
  return 1;  // handled: the global handler stays quiet
}

int log_warning(TIFF*, void*, const char* module, const char* fmt, va_list ap) {
  spdlog::debug("libtiff warning: {}", format_message(module, fmt, ap));
  return 1;
}

// Messages raised where libtiff has no TIFF* yet go to the global handlers: route them to debug, once.
void global_handler(const char* module, const char* fmt, va_list ap) {
  spdlog::debug("libtiff: {}", format_message(module, fmt, ap));
}

void install_global_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    TIFFSetErrorHandler(global_handler);
    TIFFSetWarningHandler(global_handler);
  });
}

struct TiffCloser {
  void operator()(TIFF* tif) const noexcept { TIFFClose(tif); }
};
using TiffPtr = std::unique_ptr<TIFF, TiffCloser>;

struct OptionsFree {
  void operator()(TIFFOpenOptions* o) const noexcept { TIFFOpenOptionsFree(o); }
};

// Ends a TIFFRGBAImage started with TIFFRGBAImageBegin.
struct RgbaImageGuard {
  TIFFRGBAImage* img;
  ~RgbaImageGuard() { TIFFRGBAImageEnd(img); }
};

std::string reason(const std::string& what, const TiffMessages& messages) {
  return messages.errors.empty() ? what : fmt::format("{} ({})", what, messages.errors);
}

TiffPtr open(const std::string& path, TiffMessages& messages, std::int64_t max_pixels) {
  install_global_handlers();
  std::unique_ptr<TIFFOpenOptions, OptionsFree> options(TIFFOpenOptionsAlloc());
  if (!options) throw Error(ErrorKind::Internal, "cannot allocate libtiff options", {path});
  TIFFOpenOptionsSetErrorHandlerExtR(options.get(), collect_error, &messages);
  TIFFOpenOptionsSetWarningHandlerExtR(options.get(), log_warning, nullptr);
  // Bounds any single allocation libtiff makes (strip buffers of a hostile file), beyond our raster check.
  const std::int64_t cap = std::max<std::int64_t>(256LL << 20, max_pixels * 8);
  TIFFOpenOptionsSetMaxSingleMemAlloc(options.get(), static_cast<tmsize_t>(cap));
  TiffPtr tif(TIFFOpenExt(path.c_str(), "r", options.get()));
  if (!tif) throw Error(ErrorKind::Input, reason("cannot open as TIFF", messages), {path});
  return tif;
}

double resolution_dpi(TIFF* tif) {
  float xres = 0.0f;
  std::uint16_t unit = RESUNIT_INCH;
  if (!TIFFGetField(tif, TIFFTAG_XRESOLUTION, &xres) || !(xres > 0.0f)) return 0.0;
  TIFFGetFieldDefaulted(tif, TIFFTAG_RESOLUTIONUNIT, &unit);
  if (unit == RESUNIT_CENTIMETER) return xres * 2.54;
  if (unit == RESUNIT_INCH) return xres;
  return 0.0;  // RESUNIT_NONE: an aspect ratio, not a resolution
}

class TiffSource final : public PageSource {
 public:
  TiffSource(std::string path, int pages, std::int64_t max_pixels)
      : path_(std::move(path)), pages_(pages), max_pixels_(max_pixels) {}
  int page_count() const override { return pages_; }
  DocumentFormat format() const override { return DocumentFormat::Tiff; }
  const std::string& path() const override { return path_; }
  Page load(int index) const override {
    if (index < 1 || index > pages_) {
      throw Error(ErrorKind::Usage, fmt::format("page {} does not exist (the TIFF has {} pages)", index, pages_),
                  {path_});
    }
    return decode_tiff_page(path_, index, max_pixels_);
  }

 private:
  std::string path_;
  int pages_;
  std::int64_t max_pixels_;
};

}  // namespace

int tiff_page_count(const std::string& path) {
  TiffMessages messages;
  TiffPtr tif = open(path, messages, OpenOptions{}.max_pixels);
  const tdir_t n = TIFFNumberOfDirectories(tif.get());
  if (n == 0) throw Error(ErrorKind::Input, reason("TIFF has no pages", messages), {path});
  return static_cast<int>(n);
}

Page decode_tiff_page(const std::string& path, int index, std::int64_t max_pixels) {
  TiffMessages messages;
  TiffPtr tif = open(path, messages, max_pixels);
  const ErrorContext where{path, index};
  if (index < 1 || !TIFFSetDirectory(tif.get(), static_cast<tdir_t>(index - 1))) {
    throw Error(ErrorKind::Input, reason("cannot read this page's directory", messages), where);
  }

  char emsg[1024] = {};
  if (!TIFFRGBAImageOK(tif.get(), emsg)) {
    throw Error(ErrorKind::Input, reason(fmt::format("unsupported TIFF layout: {}", emsg), messages), where);
  }
  TIFFRGBAImage img{};
  if (!TIFFRGBAImageBegin(&img, tif.get(), 1, emsg)) {
    throw Error(ErrorKind::Input, reason(fmt::format("cannot decode: {}", emsg), messages), where);
  }
  RgbaImageGuard guard{&img};
  const int w = static_cast<int>(img.width);
  const int h = static_cast<int>(img.height);
  check_pixel_budget(img.width, img.height, max_pixels, path, index);

  // Read rows exactly as stored (no flips by libtiff: it ignores the transposing orientations 5..8),
  // then apply all eight orientations in one place.
  const int orientation = img.orientation;
  img.orientation = ORIENTATION_TOPLEFT;
  img.req_orientation = ORIENTATION_TOPLEFT;

  std::vector<std::uint32_t> raster(static_cast<std::size_t>(w) * static_cast<std::size_t>(h));
  if (!TIFFRGBAImageGet(&img, raster.data(), img.width, img.height)) {
    throw Error(ErrorKind::Input, reason("cannot decode the page's pixels (corrupt or truncated data)", messages),
                where);
  }

  // libtiff premultiplies unassociated alpha for colour images but passes gray+alpha through unchanged.
  const bool gray = img.photometric == PHOTOMETRIC_MINISBLACK || img.photometric == PHOTOMETRIC_MINISWHITE;
  const bool premultiplied = img.alpha == EXTRASAMPLE_ASSOCALPHA || (img.alpha == EXTRASAMPLE_UNASSALPHA && !gray);
  RgbImage stored(w, h);
  for (int y = 0; y < h; ++y) {
    const std::uint32_t* in = raster.data() + static_cast<std::size_t>(y) * w;
    std::uint8_t* out = stored.row(y);
    for (int x = 0; x < w; ++x) {
      const std::uint32_t p = in[x];
      const std::uint32_t a = img.alpha ? TIFFGetA(p) : 255u;
      const std::uint32_t c[3] = {TIFFGetR(p), TIFFGetG(p), TIFFGetB(p)};
      for (int k = 0; k < 3; ++k) {
        const std::uint32_t v = premultiplied ? std::min(255u, c[k] + (255u - a))
                                              : (c[k] * a + 255u * (255u - a) + 127u) / 255u;
        out[3 * x + k] = static_cast<std::uint8_t>(v);
      }
    }
  }
  Page page;
  page.source = path;
  page.index = index;
  page.dpi = resolution_dpi(tif.get());
  page.image = apply_orientation(stored, orientation);
  return page;
}

std::unique_ptr<PageSource> open_tiff(const std::string& path, const OpenOptions& options) {
  return std::make_unique<TiffSource>(path, tiff_page_count(path), options.max_pixels);
}

}  // namespace folio::stages
