// Opening any supported document by its bytes: the one entry point the pipeline and the CLI use.
#pragma once

#include <memory>
#include <string>

#include "stages/page.hpp"
#include "stages/sniff.hpp"

namespace folio::stages {

// Sniffs `path` and opens it as a PDF, a TIFF or a single image. Throws folio::Error naming the file
// (Input for empty, unknown or damaged files; Encrypted; Io when it cannot be read).
std::unique_ptr<PageSource> open_document(const std::string& path, const OpenOptions& options = {});

}  // namespace folio::stages
