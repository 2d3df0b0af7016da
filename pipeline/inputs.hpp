// What a run reads: the documents named on the command line (files, folders searched recursively, globs
// with ** and @list files), filtered by --include/--exclude globs, and this machine's share of them when
// the run is sharded across machines (--shard I/N, SLURM job arrays, Kubernetes Indexed Jobs).
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace folio::pipeline {

struct InputFile {
  std::filesystem::path path;      // as opened
  std::filesystem::path relative;  // under the input it came from: mirrored under the output folder
};

struct InputOptions {
  std::vector<std::string> include;  // globs on the relative path; empty = everything
  std::vector<std::string> exclude;
};

// Every input, sorted and unique by relative path. Throws folio::Error (Usage) for a path that does not
// exist, a glob or list that names nothing readable, and two inputs that would write the same output.
std::vector<InputFile> discover_inputs(const std::vector<std::string>& args, const InputOptions& options = {});

// Glob match on '/'-separated paths: '*' and '?' within one segment, '**' across any number of segments,
// [...] classes (fnmatch).
bool glob_match(const std::string& pattern, const std::string& path);

struct Shard {
  int index = 0;  // 0-based
  int count = 1;
};
// "I/N", 1-based I (as people count machines); folio::Error (Usage) otherwise.
Shard parse_shard(const std::string& text);
// From the environment: SLURM_ARRAY_TASK_ID (minus SLURM_ARRAY_TASK_MIN) of SLURM_ARRAY_TASK_COUNT, or a
// Kubernetes Indexed Job's JOB_COMPLETION_INDEX of `count` (FOLIO_SHARD_COUNT or --shard-count).
std::optional<Shard> shard_from_environment(const std::map<std::string, std::string>& env, std::optional<int> count);
// The inputs of one shard: a stable partition by a hash of the relative path, so every machine agrees
// whatever order it discovered the files in, and adding files does not move the others.
std::vector<InputFile> select_shard(const std::vector<InputFile>& inputs, Shard shard);

}  // namespace folio::pipeline
