#include <spdlog/spdlog.h>

#include "cli/command.hpp"

namespace folio::cli {

void register_normalize(CLI::App& app, CommandResult& result) {
  auto* cmd = app.add_subcommand("normalize", "Normalise a raw answer as a schema type would");
  cmd->callback([&result] {
    spdlog::error("'normalize' is not implemented yet");
    result.exit_code = kExitUsage;
  });
}

}  // namespace folio::cli
