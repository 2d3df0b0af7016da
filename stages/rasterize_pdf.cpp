#include "stages/rasterize_pdf.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>

#include <fmt/format.h>
#include <poppler/cpp/poppler-document.h>
#include <poppler/cpp/poppler-global.h>
#include <poppler/cpp/poppler-image.h>
#include <poppler/cpp/poppler-page-renderer.h>
#include <poppler/cpp/poppler-page.h>
#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "stages/pixel_budget.hpp"

namespace folio::stages {

namespace {

// Poppler reports syntax errors of damaged files on stderr; keep them for --verbose only.
void poppler_message(const std::string& message, void*) { spdlog::debug("poppler: {}", message); }

void install_poppler_handler() {
  static std::once_flag once;
  std::call_once(once, [] { poppler::set_debug_error_function(poppler_message, nullptr); });
}

PdfPageSize displayed_size(const poppler::page& page) {
  const poppler::rectf box = page.page_rect(poppler::crop_box);
  PdfPageSize size{std::abs(box.width()), std::abs(box.height())};
  const auto o = page.orientation();
  if (o == poppler::page::landscape || o == poppler::page::seascape) std::swap(size.width_pt, size.height_pt);
  return size;
}

class PdfSource final : public PageSource {
 public:
  PdfSource(std::string path, std::unique_ptr<poppler::document> doc, const OpenOptions& options)
      : path_(std::move(path)), doc_(std::move(doc)), pages_(doc_->pages()), options_(options) {}

  int page_count() const override { return pages_; }
  DocumentFormat format() const override { return DocumentFormat::Pdf; }
  const std::string& path() const override { return path_; }

  Page load(int index) const override {
    if (index < 1 || index > pages_) {
      throw Error(ErrorKind::Usage, fmt::format("page {} does not exist (the PDF has {} pages)", index, pages_),
                  {path_});
    }
    // One Poppler document is not safe to render from two threads at once.
    std::lock_guard lock(mutex_);
    std::unique_ptr<poppler::page> page(doc_->create_page(index - 1));
    if (!page) throw Error(ErrorKind::Input, "cannot read this page", {path_, index});
    const PdfPageSize size = displayed_size(*page);
    if (!(size.width_pt > 0.0) || !(size.height_pt > 0.0)) {
      throw Error(ErrorKind::Input, "page has an empty crop box", {path_, index});
    }
    const double dpi = options_.dpi > 0.0 ? options_.dpi : dpi_for_longest_edge(size, options_.target_longest_edge);
    check_pixel_budget(pdf_pixels(size.width_pt, dpi), pdf_pixels(size.height_pt, dpi), options_.max_pixels, path_,
                       index);

    poppler::page_renderer renderer;
    renderer.set_render_hint(poppler::page_renderer::antialiasing, true);
    renderer.set_render_hint(poppler::page_renderer::text_antialiasing, true);
    renderer.set_image_format(poppler::image::format_rgb24);
    const poppler::image image = renderer.render_page(page.get(), dpi, dpi);
    if (!image.is_valid() || image.width() <= 0 || image.height() <= 0) {
      throw Error(ErrorKind::Input, "Poppler could not render this page", {path_, index});
    }
    Page out;
    out.source = path_;
    out.index = index;
    out.dpi = dpi;
    out.image = to_rgb(image);
    return out;
  }

 private:
  // format_rgb24 rows hold 3 bytes per pixel in R, G, B order, padded to a 4-byte multiple.
  static RgbImage to_rgb(const poppler::image& image) {
    RgbImage out(image.width(), image.height());
    const char* data = image.const_data();
    const int stride = image.bytes_per_row();
    for (int y = 0; y < out.height; ++y) {
      std::memcpy(out.row(y), data + static_cast<std::size_t>(y) * stride, static_cast<std::size_t>(out.width) * 3);
    }
    return out;
  }

  std::string path_;
  std::unique_ptr<poppler::document> doc_;
  int pages_;
  OpenOptions options_;
  mutable std::mutex mutex_;
};

}  // namespace

double dpi_for_longest_edge(const PdfPageSize& size, int target_longest_edge) {
  const double longest = std::max(size.width_pt, size.height_pt);
  if (!(longest > 0.0) || target_longest_edge <= 0) return 72.0;
  return 72.0 * target_longest_edge / longest;
}

int pdf_pixels(double points, double dpi) {
  const double px = points * dpi / 72.0;
  if (!(px < 2e9)) return std::numeric_limits<int>::max();
  return std::max(1, static_cast<int>(px + 0.5));
}

std::unique_ptr<PageSource> open_pdf(const std::string& path, const OpenOptions& options) {
  install_poppler_handler();
  // The same string is tried as owner and as user password: users rarely know which one they were given.
  std::unique_ptr<poppler::document> doc(
      poppler::document::load_from_file(path, options.password, options.password));
  if (!doc) {
    throw Error(ErrorKind::Input, "cannot open as PDF (damaged, truncated or not a PDF)", {path});
  }
  if (doc->is_locked()) {
    throw Error(ErrorKind::Encrypted, options.password.empty() ? "encrypted: needs a password" : "wrong password",
                {path});
  }
  if (doc->pages() <= 0) throw Error(ErrorKind::Input, "PDF has no pages", {path});
  return std::make_unique<PdfSource>(path, std::move(doc), options);
}

}  // namespace folio::stages
