// Where tests find their data. Tests run from the project root (ctest sets the working directory);
// the reference data is ../shared/reference relative to it.
#pragma once

#include <filesystem>
#include <string>

namespace folio::test {

std::filesystem::path source_dir();     // the project root
std::filesystem::path reference_dir();  // ../shared/reference
std::filesystem::path samples_dir();    // samples/
// A fresh, empty folder under the system temp dir, removed when the object dies.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "folio-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The folio executable built next to the tests (FOLIO_BIN, set by ctest).
std::string folio_bin();

// Runs a shell command; returns its exit status (-1 when killed by a signal) and its stdout.
struct CommandOutput {
  int status = -1;
  std::string out;
};
CommandOutput run_command(const std::string& command);

}  // namespace folio::test
