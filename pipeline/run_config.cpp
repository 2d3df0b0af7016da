#include "pipeline/run_config.hpp"

#include <sched.h>
#include <yaml-cpp/yaml.h>

#include <set>
#include <thread>

#include "common/error.hpp"
#include "pipeline/yaml_file.hpp"

namespace folio::pipeline {
namespace {

// Shared with the schema loader (yaml_file.hpp).
[[noreturn]] void fail(const std::filesystem::path& file, const YAML::Node& node, const std::string& why) {
  yaml_error(file, node, why);
}

template <typename T>
T scalar(const std::filesystem::path& file, const YAML::Node& node, const std::string& key) {
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    fail(file, node, "'" + key + "' has a bad value");
  }
}

void check_keys(const std::filesystem::path& file, const YAML::Node& map, const std::set<std::string>& known,
                const std::string& where) {
  check_yaml_keys(file, map, known, where.empty() ? "the config" : "'" + where + "'");
}

std::string one_of(const std::filesystem::path& file, const YAML::Node& node, const std::string& key,
                   const std::set<std::string>& allowed) {
  auto v = scalar<std::string>(file, node, key);
  if (!allowed.count(v)) {
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    fail(file, node, "'" + key + "' must be one of " + list + ", not '" + v + "'");
  }
  return v;
}

}  // namespace

RunConfig load_run_config(const std::filesystem::path& path, RunConfig c) {
  const YAML::Node root = load_yaml_file(path, "config file");
  if (root.IsNull()) return c;
  check_keys(path, root,
             {"model", "precision", "threads", "prompt_style", "max_new_tokens", "pages_in_flight", "timeout_per_doc",
              "limits", "render", "cleanup", "date_order", "passwords"},
             "");
  // Relative model paths are relative to the config file's folder, so a config travels with its models.
  if (auto n = root["model"]) {
    std::filesystem::path m = scalar<std::string>(path, n, "model");
    c.model = m.is_absolute() ? m : (path.parent_path() / m);
  }
  if (auto n = root["precision"]) c.precision = one_of(path, n, "precision", {"int8", "bf16", "fp32"});
  if (auto n = root["threads"]) c.threads = scalar<int>(path, n, "threads");
  if (auto n = root["prompt_style"]) c.prompt_style = one_of(path, n, "prompt_style", {"chat", "docvqa"});
  if (auto n = root["max_new_tokens"]) c.max_new_tokens = scalar<int>(path, n, "max_new_tokens");
  if (auto n = root["pages_in_flight"]) c.pages_in_flight = scalar<int>(path, n, "pages_in_flight");
  if (auto n = root["timeout_per_doc"]) c.timeout_per_doc_s = scalar<double>(path, n, "timeout_per_doc");
  if (auto n = root["date_order"]) c.date_order = one_of(path, n, "date_order", {"dmy", "mdy", "ymd"});
  if (auto l = root["limits"]) {
    check_keys(path, l, {"max_pages", "max_file_size_mb", "max_image_mpixels"}, "limits");
    if (auto n = l["max_pages"]) c.max_pages = scalar<int>(path, n, "max_pages");
    if (auto n = l["max_file_size_mb"]) c.max_file_size_mb = scalar<double>(path, n, "max_file_size_mb");
    if (auto n = l["max_image_mpixels"]) c.max_image_mpixels = scalar<double>(path, n, "max_image_mpixels");
  }
  if (auto r = root["render"]) {
    check_keys(path, r, {"longest_edge"}, "render");
    if (auto n = r["longest_edge"]) c.render_longest_edge = scalar<int>(path, n, "longest_edge");
  }
  if (auto cl = root["cleanup"]) {
    check_keys(path, cl, {"deskew", "orient", "normalize_background"}, "cleanup");
    if (auto n = cl["deskew"]) c.deskew = scalar<bool>(path, n, "deskew");
    if (auto n = cl["orient"]) c.orient = scalar<bool>(path, n, "orient");
    if (auto n = cl["normalize_background"]) c.normalize_background = scalar<bool>(path, n, "normalize_background");
  }
  if (auto p = root["passwords"]) {
    if (!p.IsMap()) fail(path, p, "'passwords' must map path globs to passwords");
    for (const auto& kv : p)
      c.passwords.emplace_back(kv.first.as<std::string>(), scalar<std::string>(path, kv.second, "passwords"));
  }
  if (c.threads < 0) fail(path, root["threads"], "'threads' must be 0 (all cores) or more");
  if (c.max_new_tokens < 1) fail(path, root["max_new_tokens"], "'max_new_tokens' must be at least 1");
  if (c.pages_in_flight < 1) fail(path, root["pages_in_flight"], "'pages_in_flight' must be at least 1");
  if (c.timeout_per_doc_s < 0) fail(path, root["timeout_per_doc"], "'timeout_per_doc' must be 0 (none) or more");
  return c;
}

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace folio::pipeline
