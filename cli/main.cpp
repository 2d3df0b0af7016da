// folio: documents in, structured JSON out. Parses the command line, runs one subcommand,
// and turns errors into the documented exit codes. Nothing below main calls exit().
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <iostream>

#include "cli/command.hpp"
#include "cli/logging.hpp"
#include "common/error.hpp"

namespace {

int exit_code_for(folio::ErrorKind kind) {
  using folio::ErrorKind;
  switch (kind) {
    case ErrorKind::Usage: return folio::cli::kExitUsage;
    case ErrorKind::Model: return folio::cli::kExitModel;
    default: return folio::cli::kExitSomeFailed;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Folio: turn folders of documents into structured JSON with a local SmolVLM model, offline."};
  app.set_version_flag("--version", std::string("folio ") + FOLIO_VERSION);
  app.require_subcommand(1);
  app.fallthrough();

  folio::cli::LogOptions log_options;
  folio::cli::add_log_options(app, log_options);

  folio::cli::CommandResult result;
  folio::cli::register_pages(app, result);
  folio::cli::register_inspect(app, result);
  folio::cli::register_tokenize(app, result);
  folio::cli::register_ask(app, result);
  folio::cli::register_bench(app, result);
  folio::cli::register_run(app, result);
  folio::cli::register_schema(app, result);
  folio::cli::register_normalize(app, result);
  folio::cli::register_fetch_model(app, result);

  // Logging is configured before any subcommand callback runs.
  app.parse_complete_callback([&] { folio::cli::setup_logging(log_options); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : folio::cli::kExitUsage;
  } catch (const folio::Error& e) {
    spdlog::error("{}", e.what());
    return exit_code_for(e.kind());
  } catch (const std::exception& e) {
    spdlog::error("internal error: {}", e.what());
    return folio::cli::kExitSomeFailed;
  }
  return result.exit_code;
}
