// Logs go to stderr only (stdout carries data): -q, -v/-vv and --log-format text|json.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace folio::cli {

struct LogOptions {
  int verbosity = 0;  // count of -v
  bool quiet = false;
  std::string format = "text";
};

void add_log_options(CLI::App& app, LogOptions& options);
void setup_logging(const LogOptions& options);
// Whether --log-format json is on (progress lines follow it).
bool json_logs();

}  // namespace folio::cli
