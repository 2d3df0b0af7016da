// The identity of a checkpoint folder for resumable runs: SHA-256 over the SHA-256 of each file Folio
// reads (configs, tokenizer, weights). Hashing gigabytes of weights costs seconds, so per-file digests are
// cached by (path, size, mtime) in a small JSON file the run keeps in its output folder.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace folio::pipeline {

// cache: where to keep per-file digests (nullopt: no cache). Throws folio::Error (Model) when the
// folder has none of the files a checkpoint has.
std::string model_sha256(const std::filesystem::path& model_dir, const std::optional<std::filesystem::path>& cache);

}  // namespace folio::pipeline
