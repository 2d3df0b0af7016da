#include <spdlog/spdlog.h>

#include "cli/command.hpp"

namespace folio::cli {

void register_ask(CLI::App& app, CommandResult& result) {
  auto* cmd = app.add_subcommand("ask", "Ask questions about one page");
  cmd->callback([&result] {
    spdlog::error("'ask' is not implemented yet");
    result.exit_code = kExitUsage;
  });
}

}  // namespace folio::cli
