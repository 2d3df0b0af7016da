#include "support/paths.hpp"

#include <sys/wait.h>

#include <array>
#include <cstdio>
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

CommandOutput run_command(const std::string& command) {
  CommandOutput r;
  FILE* p = popen(command.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace folio::test
