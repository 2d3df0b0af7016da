#include "pipeline/yaml_file.hpp"

#include "common/error.hpp"

namespace folio::pipeline {

YAML::Node load_yaml_file(const std::filesystem::path& path, const std::string& what) {
  try {
    return YAML::LoadFile(path.string());
  } catch (const YAML::BadFile&) {
    throw Error(ErrorKind::Usage, "cannot read the " + what, {path.string()});
  } catch (const YAML::ParserException& e) {
    throw Error(ErrorKind::Usage, "line " + std::to_string(e.mark.line + 1) + ": " + e.msg, {path.string()});
  }
}

void yaml_error(const std::filesystem::path& file, const YAML::Node& node, const std::string& why) {
  const int line = node.IsDefined() && node.Mark().line >= 0 ? node.Mark().line + 1 : 0;
  throw Error(ErrorKind::Usage, (line ? "line " + std::to_string(line) + ": " : std::string()) + why, {file.string()});
}

void check_yaml_keys(const std::filesystem::path& file, const YAML::Node& map, const std::set<std::string>& known,
                     const std::string& where) {
  if (!map.IsMap()) yaml_error(file, map, where + " must be a mapping");
  for (const auto& kv : map) {
    const auto key = kv.first.as<std::string>();
    if (!known.count(key)) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      yaml_error(file, kv.first, "unknown key '" + key + "' in " + where + " (known: " + list + ")");
    }
  }
}

}  // namespace folio::pipeline
