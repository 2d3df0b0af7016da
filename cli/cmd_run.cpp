#include <spdlog/spdlog.h>

#include "cli/command.hpp"

namespace folio::cli {

void register_run(CLI::App& app, CommandResult& result) {
  auto* cmd = app.add_subcommand("run", "Extract schema fields from documents into JSON");
  cmd->callback([&result] {
    spdlog::error("'run' is not implemented yet");
    result.exit_code = kExitUsage;
  });
}

}  // namespace folio::cli
