#include "stages/document.hpp"

#include <filesystem>

#include "common/error.hpp"
#include "stages/decode_image.hpp"
#include "stages/decode_tiff.hpp"
#include "stages/rasterize_pdf.hpp"

namespace folio::stages {

std::unique_ptr<PageSource> open_document(const std::string& path, const OpenOptions& options) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw Error(ErrorKind::Input, "is a folder, not a document", {path});
  if (!std::filesystem::exists(path, ec)) throw Error(ErrorKind::Io, "no such file", {path});
  switch (sniff_file(path)) {
    case DocumentFormat::Pdf: return open_pdf(path, options);
    case DocumentFormat::Tiff: return open_tiff(path, options);
    default: return open_image(path, options);
  }
}

}  // namespace folio::stages
