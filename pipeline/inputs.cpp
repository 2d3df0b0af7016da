#include "pipeline/inputs.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "common/error.hpp"

namespace folio::pipeline {
namespace {

namespace fs = std::filesystem;

bool has_wildcard(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

std::vector<std::string> segments(const std::string& path) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= path.size()) {
    const auto end = path.find('/', start);
    const auto seg = path.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!seg.empty()) out.push_back(seg);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

bool match_segments(const std::vector<std::string>& pat, std::size_t i, const std::vector<std::string>& path, std::size_t j) {
  if (i == pat.size()) return j == path.size();
  if (pat[i] == "**") {
    for (std::size_t k = j; k <= path.size(); ++k)
      if (match_segments(pat, i + 1, path, k)) return true;
    return false;
  }
  return j < path.size() && ::fnmatch(pat[i].c_str(), path[j].c_str(), 0) == 0 && match_segments(pat, i + 1, path, j + 1);
}

std::vector<fs::path> files_under(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end; it != end;
       it.increment(ec)) {
    if (ec) break;
    const auto name = it->path().filename().string();
    if (!name.empty() && name[0] == '.') {  // hidden files and folders (.git, editor swap files)
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file() || it->is_fifo() || it->is_character_file()) out.push_back(it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void add_arg(const std::string& arg, std::vector<InputFile>& out, int depth) {
  if (arg.empty()) return;
  if (arg[0] == '@') {
    if (depth > 4) throw Error(ErrorKind::Usage, "@lists nest too deep", {arg});
    std::ifstream in(arg.substr(1));
    if (!in) throw Error(ErrorKind::Usage, "cannot read the input list", {arg.substr(1)});
    std::string line;
    while (std::getline(in, line)) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (line.empty() || line[0] == '#') continue;
      add_arg(line, out, depth + 1);
    }
    return;
  }
  if (has_wildcard(arg)) {
    // The folder before the first wildcard segment is walked; the rest is matched on relative paths.
    const auto segs = segments(arg);
    fs::path base = arg[0] == '/' ? fs::path("/") : fs::path(".");
    std::size_t first = 0;
    while (first < segs.size() && !has_wildcard(segs[first])) base /= segs[first++];
    const std::vector<std::string> pattern(segs.begin() + static_cast<long>(first), segs.end());
    std::size_t found = 0;
    if (fs::is_directory(base))
      for (const auto& p : files_under(base)) {
        const auto rel = p.lexically_relative(base).generic_string();
        if (match_segments(pattern, 0, segments(rel), 0)) {
          out.push_back({p, rel});
          ++found;
        }
      }
    if (found == 0) throw Error(ErrorKind::Usage, "the pattern matches no file", {arg});
    return;
  }
  const fs::path p(arg);
  std::error_code ec;
  const auto status = fs::status(p, ec);
  if (ec || !fs::exists(status)) throw Error(ErrorKind::Usage, "no such file or folder", {arg});
  if (fs::is_directory(status)) {
    for (const auto& f : files_under(p)) out.push_back({f, f.lexically_relative(p)});
  } else {
    out.push_back({p, p.filename()});
  }
}

}  // namespace

bool glob_match(const std::string& pattern, const std::string& path) {
  return match_segments(segments(pattern), 0, segments(path), 0);
}

std::vector<InputFile> discover_inputs(const std::vector<std::string>& args, const InputOptions& options) {
  std::vector<InputFile> all;
  for (const auto& a : args) add_arg(a, all, 0);
  std::vector<InputFile> out;
  for (auto& f : all) {
    const auto rel = f.relative.generic_string();
    if (!options.include.empty() &&
        std::none_of(options.include.begin(), options.include.end(), [&](const auto& g) { return glob_match(g, rel); }))
      continue;
    if (std::any_of(options.exclude.begin(), options.exclude.end(), [&](const auto& g) { return glob_match(g, rel); }))
      continue;
    out.push_back(std::move(f));
  }
  std::stable_sort(out.begin(), out.end(), [](const InputFile& a, const InputFile& b) { return a.relative < b.relative; });
  // The same file named twice is one input; two different files with one output path are an error.
  std::vector<InputFile> unique;
  for (auto& f : out) {
    if (!unique.empty() && unique.back().relative == f.relative) {
      std::error_code ec;
      if (fs::equivalent(unique.back().path, f.path, ec)) continue;
      throw Error(ErrorKind::Usage,
                  "two inputs would write the same output " + f.relative.string() + ": " + unique.back().path.string() +
                      " and " + f.path.string() + " (give their common parent folder instead)");
    }
    unique.push_back(std::move(f));
  }
  return unique;
}

Shard parse_shard(const std::string& text) {
  const auto slash = text.find('/');
  try {
    if (slash != std::string::npos) {
      std::size_t a = 0, b = 0;
      const int i = std::stoi(text.substr(0, slash), &a), n = std::stoi(text.substr(slash + 1), &b);
      if (a == slash && b == text.size() - slash - 1 && n >= 1 && i >= 1 && i <= n) return {i - 1, n};
    }
  } catch (const std::exception&) {
  }
  throw Error(ErrorKind::Usage, "--shard must be I/N with 1 <= I <= N, not '" + text + "'");
}

std::optional<Shard> shard_from_environment(const std::map<std::string, std::string>& env, std::optional<int> count) {
  auto get = [&](const char* k) -> std::optional<int> {
    auto it = env.find(k);
    if (it == env.end() || it->second.empty()) return std::nullopt;
    try {
      return std::stoi(it->second);
    } catch (const std::exception&) {
      throw Error(ErrorKind::Usage, std::string("environment variable ") + k + " is not a number: '" + it->second + "'");
    }
  };
  if (auto id = get("SLURM_ARRAY_TASK_ID")) {
    const auto n = get("SLURM_ARRAY_TASK_COUNT");
    if (!n) throw Error(ErrorKind::Usage, "SLURM_ARRAY_TASK_ID is set without SLURM_ARRAY_TASK_COUNT");
    const int index = *id - get("SLURM_ARRAY_TASK_MIN").value_or(0);
    if (index < 0 || index >= *n) throw Error(ErrorKind::Usage, "SLURM array task id is outside the array");
    return Shard{index, *n};
  }
  if (auto index = get("JOB_COMPLETION_INDEX")) {
    if (!count) count = get("FOLIO_SHARD_COUNT");
    if (!count)
      throw Error(ErrorKind::Usage,
                  "JOB_COMPLETION_INDEX is set: give the Job's completions with --shard-count N or FOLIO_SHARD_COUNT");
    if (*index < 0 || *index >= *count) throw Error(ErrorKind::Usage, "JOB_COMPLETION_INDEX is outside --shard-count");
    return Shard{*index, *count};
  }
  return std::nullopt;
}

std::vector<InputFile> select_shard(const std::vector<InputFile>& inputs, Shard shard) {
  if (shard.count <= 1) return inputs;
  std::vector<InputFile> out;
  for (const auto& f : inputs) {
    std::uint64_t h = 1469598103934665603ull;  // FNV-1a: stable across machines and versions
    for (unsigned char c : f.relative.generic_string()) h = (h ^ c) * 1099511628211ull;
    if (static_cast<int>(h % static_cast<std::uint64_t>(shard.count)) == shard.index) out.push_back(f);
  }
  return out;
}

}  // namespace folio::pipeline
