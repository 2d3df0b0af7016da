// Writes that are all or nothing: temporary file in the same folder, fsync, rename, fsync the folder.
#pragma once

#include <filesystem>
#include <string_view>

namespace folio {

// Creates parent folders as needed. Throws folio::Error (Io) naming the path on failure;
// the destination is then untouched and no temporary file is left behind.
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

}  // namespace folio
