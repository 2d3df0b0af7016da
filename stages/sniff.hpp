// Which kind of document a file is, from its first bytes (never from its extension).
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace folio::stages {

enum class DocumentFormat { Unknown, Pdf, Tiff, Png, Jpeg, Bmp, Pnm, Gif, WebP };

const char* to_string(DocumentFormat format);

// Bytes a caller should read for sniff_format to decide (PDFs may have junk before "%PDF-").
inline constexpr std::size_t kSniffBytes = 1024;

// Decides from the leading bytes alone; Unknown when nothing matches.
DocumentFormat sniff_format(std::span<const std::uint8_t> head);

// Reads the head of `path` and sniffs it. Throws folio::Error: Io when unreadable, Input when empty or
// not a supported format ("not a supported document format (starts with ...)").
DocumentFormat sniff_file(const std::string& path);

// "25 50 44 46 ... ("%PDF")": the first bytes in hex and as text, for error messages.
std::string describe_head(std::span<const std::uint8_t> head);

}  // namespace folio::stages
