#include <spdlog/spdlog.h>

#include "cli/command.hpp"

namespace folio::cli {

void register_bench(CLI::App& app, CommandResult& result) {
  auto* cmd = app.add_subcommand("bench", "Benchmark the engine against this machine's limits");
  cmd->callback([&result] {
    spdlog::error("'bench' is not implemented yet");
    result.exit_code = kExitUsage;
  });
}

}  // namespace folio::cli
