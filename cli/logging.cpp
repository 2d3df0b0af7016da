#include "cli/logging.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace folio::cli {

void add_log_options(CLI::App& app, LogOptions& o) {
  app.add_flag("-v,--verbose", o.verbosity, "More detail on stderr (-vv for debug)");
  app.add_flag("-q,--quiet", o.quiet, "Only errors on stderr, no progress");
  app.add_option("--log-format", o.format, "Log line format on stderr")
      ->check(CLI::IsMember({"text", "json"}));
}

void setup_logging(const LogOptions& o) {
  auto logger = spdlog::stderr_color_mt("folio");
  spdlog::set_default_logger(logger);
  if (o.format == "json") {
    // One JSON object per line for log collectors; the message is escaped by spdlog's %v? No: we
    // keep messages free of quotes where we can, and the level/time fields are fixed.
    spdlog::set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","msg":"%v"})");
  } else {
    spdlog::set_pattern("folio: %^%l%$: %v");
  }
  if (o.quiet)
    spdlog::set_level(spdlog::level::err);
  else if (o.verbosity >= 2)
    spdlog::set_level(spdlog::level::debug);
  else if (o.verbosity == 1)
    spdlog::set_level(spdlog::level::info);
  else
    spdlog::set_level(spdlog::level::warn);
}

}  // namespace folio::cli
