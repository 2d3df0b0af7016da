#include <spdlog/spdlog.h>

#include "cli/command.hpp"

namespace folio::cli {

void register_pages(CLI::App& app, CommandResult& result) {
  auto* cmd = app.add_subcommand("pages", "Render a document's pages (and the model's tiles) to PNG files");
  cmd->callback([&result] {
    spdlog::error("'pages' is not implemented yet");
    result.exit_code = kExitUsage;
  });
}

}  // namespace folio::cli
