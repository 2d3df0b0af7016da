// Writes that are all or nothing: temporary file in the same folder, fsync, rename, fsync the folder.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace folio {

// Creates parent folders as needed. Throws folio::Error (Io) naming the path on failure;
// the destination is then untouched and no temporary file is left behind.
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

// Whether a file name is one of write_file_atomic's temporary files: ".NAME.tmp-DIGITS".
bool is_atomic_temp_name(const std::string& filename);

// Removes the temporary files write_file_atomic left under `dir` (recursively) when its process was killed
// between creating and renaming them: only files of that naming, only those last modified before
// `older_than` (a live writer's file is milliseconds old). Symlinks are neither followed nor removed.
// Returns what was removed; what cannot be removed is left alone.
std::vector<std::filesystem::path> remove_stale_temp_files(const std::filesystem::path& dir,
                                                           std::filesystem::file_time_type older_than);

}  // namespace folio
