#include "cli/logging.hpp"

#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "pipeline/log_line.hpp"

namespace folio::cli {
namespace {

bool g_json_logs = false;

// --log-format json: a pattern cannot escape the message, so the whole line is built by a JSON writer.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto level = spdlog::level::to_string_view(msg.level);
    const auto line = pipeline::json_log_line(msg.time, std::string_view(level.data(), level.size()),
                                              std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(line.data(), line.data() + line.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

}  // namespace

void add_log_options(CLI::App& app, LogOptions& o) {
  app.add_flag("-v,--verbose", o.verbosity, "More detail on stderr (-vv for debug)");
  app.add_flag("-q,--quiet", o.quiet, "Only errors on stderr, no progress");
  app.add_option("--log-format", o.format, "Log line format on stderr: text | json (one JSON object per line)")
      ->check(CLI::IsMember({"text", "json"}));
}

void setup_logging(const LogOptions& o) {
  auto logger = spdlog::stderr_color_mt("folio");
  spdlog::set_default_logger(logger);
  g_json_logs = o.format == "json";
  if (g_json_logs)
    spdlog::set_formatter(std::make_unique<JsonFormatter>());
  else
    spdlog::set_pattern("folio: %^%l%$: %v");
  if (o.quiet)
    spdlog::set_level(spdlog::level::err);
  else if (o.verbosity >= 2)
    spdlog::set_level(spdlog::level::debug);
  else if (o.verbosity == 1)
    spdlog::set_level(spdlog::level::info);
  else
    spdlog::set_level(spdlog::level::warn);
}

bool json_logs() { return g_json_logs; }

}  // namespace folio::cli
