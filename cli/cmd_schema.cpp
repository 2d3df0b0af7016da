#include <spdlog/spdlog.h>

#include "cli/command.hpp"

namespace folio::cli {

void register_schema(CLI::App& app, CommandResult& result) {
  auto* cmd = app.add_subcommand("schema", "Check extraction schemas");
  cmd->callback([&result] {
    spdlog::error("'schema' is not implemented yet");
    result.exit_code = kExitUsage;
  });
}

}  // namespace folio::cli
