// folio schema check FILE: validate an extraction schema without running anything.
#include <fmt/format.h>

#include "cli/command.hpp"
#include "common/error.hpp"
#include "pipeline/schema.hpp"

namespace folio::cli {

void register_schema(CLI::App& app, CommandResult& result) {
  auto* cmd = app.add_subcommand("schema", "Work with extraction schemas");
  cmd->require_subcommand(1);
  auto file = std::make_shared<std::string>();
  auto* check = cmd->add_subcommand("check", "Validate a schema file (errors name the line)");
  check->add_option("file", *file, "YAML schema")->required();
  check->callback([file, &result] {
    const auto s = pipeline::load_schema(*file);
    int required = 0;
    for (const auto& f : s.fields) required += f.required;
    fmt::print("{}: ok, schema '{}', {} fields ({} required)\n", *file, s.name, s.fields.size(), required);
    result.exit_code = kExitOk;
  });
}

}  // namespace folio::cli
