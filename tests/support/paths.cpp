#include "support/paths.hpp"

#include <cstdlib>
#include <random>

namespace folio::test {

std::filesystem::path source_dir() { return FOLIO_SOURCE_DIR; }

std::filesystem::path reference_dir() {
  // Relative to the project root, as documented; resolved from the source dir so that a test
  // binary started from elsewhere still finds it.
  return source_dir() / ".." / "shared" / "reference";
}

std::filesystem::path samples_dir() { return source_dir() / "samples"; }

TempDir::TempDir(const std::string& prefix) {
  std::random_device rd;
  path_ = std::filesystem::temp_directory_path() / (prefix + "-" + std::to_string(rd()) + std::to_string(rd()));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string folio_bin() {
  const char* env = std::getenv("FOLIO_BIN");
  return env ? env : (source_dir() / "build" / "cli" / "folio").string();
}

}  // namespace folio::test
