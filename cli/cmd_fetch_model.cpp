#include <spdlog/spdlog.h>

#include "cli/command.hpp"

namespace folio::cli {

void register_fetch_model(CLI::App& app, CommandResult& result) {
  auto* cmd = app.add_subcommand("fetch-model", "Download a published SmolVLM checkpoint");
  cmd->callback([&result] {
    spdlog::error("'fetch-model' is not implemented yet");
    result.exit_code = kExitUsage;
  });
}

}  // namespace folio::cli
