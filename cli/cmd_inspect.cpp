#include <spdlog/spdlog.h>

#include "cli/command.hpp"

namespace folio::cli {

void register_inspect(CLI::App& app, CommandResult& result) {
  auto* cmd = app.add_subcommand("inspect", "Describe a SmolVLM checkpoint folder");
  cmd->callback([&result] {
    spdlog::error("'inspect' is not implemented yet");
    result.exit_code = kExitUsage;
  });
}

}  // namespace folio::cli
