// Subcommands of the folio executable: each lives in its own cmd_<name>.cpp and registers itself here.
#pragma once

#include <CLI/CLI.hpp>

namespace folio::cli {

// Documented exit codes (docs/exit-codes.md).
enum ExitCode : int {
  kExitOk = 0,
  kExitSomeFailed = 1,   // some documents failed or are incomplete
  kExitUsage = 2,        // usage, config or schema error
  kExitModel = 3,        // the model cannot be loaded
  kExitInterrupted = 130,
};

// Filled by the subcommand that runs; main returns it.
struct CommandResult {
  int exit_code = kExitOk;
};

void register_pages(CLI::App& app, CommandResult& result);
void register_inspect(CLI::App& app, CommandResult& result);
void register_tokenize(CLI::App& app, CommandResult& result);
void register_ask(CLI::App& app, CommandResult& result);
void register_bench(CLI::App& app, CommandResult& result);
void register_run(CLI::App& app, CommandResult& result);
void register_schema(CLI::App& app, CommandResult& result);
void register_normalize(CLI::App& app, CommandResult& result);
void register_fetch_model(CLI::App& app, CommandResult& result);

}  // namespace folio::cli
