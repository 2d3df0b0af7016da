// SHA-256 of files and byte strings (OpenSSL), as lowercase hex.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace folio {

std::string sha256_hex(std::string_view bytes);
// Streams the file; throws folio::Error (Io) naming the file when it cannot be read.
std::string sha256_file_hex(const std::filesystem::path& path);
// How git (and so the Hugging Face Hub, for files not in LFS) names a file's content: SHA-1 of
// "blob <size>\0" followed by the bytes.
std::string git_blob_sha1_file_hex(const std::filesystem::path& path);

}  // namespace folio
