#include "pipeline/model_hash.hpp"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/atomic_file.hpp"
#include "common/error.hpp"
#include "common/sha256.hpp"

namespace folio::pipeline {
namespace {

bool is_model_file(const std::filesystem::path& p) {
  const std::string name = p.filename().string();
  const std::string ext = p.extension().string();
  return ext == ".safetensors" || (ext == ".json" && name != "folio-run.json") || name == "merges.txt";
}

}  // namespace

std::string model_sha256(const std::filesystem::path& model_dir, const std::optional<std::filesystem::path>& cache) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(model_dir, ec))
    if (e.is_regular_file() && is_model_file(e.path())) files.push_back(e.path());
  if (ec || files.empty())
    throw Error(ErrorKind::Model, "no checkpoint files to identify the model by", {model_dir.string()});
  std::sort(files.begin(), files.end());

  nlohmann::json cached = nlohmann::json::object();
  if (cache) {
    std::ifstream in(*cache);
    if (in) cached = nlohmann::json::parse(in, nullptr, false);
    if (!cached.is_object()) cached = nlohmann::json::object();
  }
  bool changed = false;
  std::string listing;
  for (const auto& f : files) {
    const std::string key = fs::absolute(f).lexically_normal().string();
    const auto size = fs::file_size(f);
    const auto mtime = fs::last_write_time(f).time_since_epoch().count();
    std::string digest;
    auto it = cached.find(key);
    if (it != cached.end() && it->value("size", std::uint64_t{0}) == size && it->value("mtime", std::int64_t{0}) == mtime)
      digest = it->value("sha256", "");
    if (digest.empty()) {
      digest = sha256_file_hex(f);
      cached[key] = {{"size", size}, {"mtime", mtime}, {"sha256", digest}};
      changed = true;
    }
    listing += f.filename().string() + " " + digest + "\n";
  }
  if (cache && changed) {
    try {
      write_file_atomic(*cache, cached.dump(1));
    } catch (const Error&) {
      // A cache we cannot write only costs time on the next run.
    }
  }
  return sha256_hex(listing);
}

}  // namespace folio::pipeline
