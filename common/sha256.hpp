// SHA-256 of files and byte strings (OpenSSL), as lowercase hex.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace folio {

std::string sha256_hex(std::string_view bytes);
// Streams the file; throws folio::Error (Io) naming the file when it cannot be read.
std::string sha256_file_hex(const std::filesystem::path& path);

}  // namespace folio
