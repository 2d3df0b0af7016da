#include <spdlog/spdlog.h>

#include "cli/command.hpp"

namespace folio::cli {

void register_tokenize(CLI::App& app, CommandResult& result) {
  auto* cmd = app.add_subcommand("tokenize", "Tokenize text with a checkpoint's tokenizer");
  cmd->callback([&result] {
    spdlog::error("'tokenize' is not implemented yet");
    result.exit_code = kExitUsage;
  });
}

}  // namespace folio::cli
