// The run manifest DIR/folio-run.jsonl: one JSON line per document outcome, appended and fsynced as it
// happens, so a killed run leaves a true record and a rerun can tell what is done.
#pragma once

#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>

namespace folio::pipeline {

class Manifest {
 public:
  // Opens (creating) the file for appending; throws folio::Error (Io) naming it.
  explicit Manifest(const std::filesystem::path& path);
  ~Manifest();
  Manifest(const Manifest&) = delete;
  Manifest& operator=(const Manifest&) = delete;

  // Thread-safe; one line, written with a single write(2) and fsync.
  void append(const nlohmann::json& record);
  const std::filesystem::path& path() const { return path_; }

  // Reads every complete line of an existing manifest (a torn last line from a crash is ignored).
  static std::vector<nlohmann::json> read(const std::filesystem::path& path);

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::mutex mutex_;
};

}  // namespace folio::pipeline
