// Reading the project's YAML files (schemas, run configs) with errors that name the file and line.
#pragma once

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <set>
#include <string>

namespace folio::pipeline {

// Parses the file; throws folio::Error (Usage) naming it ("cannot read the <what>", or the syntax error's line).
YAML::Node load_yaml_file(const std::filesystem::path& path, const std::string& what);

// folio::Error (Usage) naming the file and the node's line.
[[noreturn]] void yaml_error(const std::filesystem::path& file, const YAML::Node& node, const std::string& why);

// Unknown keys of a mapping are errors at their line, listing the known ones.
void check_yaml_keys(const std::filesystem::path& file, const YAML::Node& map, const std::set<std::string>& known,
                     const std::string& where);

}  // namespace folio::pipeline
