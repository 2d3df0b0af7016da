#include "pipeline/fetch_model.hpp"

#include <curl/curl.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/sha256.hpp"

namespace folio::pipeline {
namespace {

namespace fs = std::filesystem;

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
using Curl = std::unique_ptr<CURL, CurlDeleter>;

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string how_to_get_it(const std::string& repo, const fs::path& folder) {
  return "download " + repo + " on a machine that can reach the Hub (huggingface-cli download " + repo +
         " --local-dir " + folder.string() + ") and copy the folder to " + folder.string();
}

// GET into a string (the tree listing).
std::string get_text(const std::string& url, const std::string& repo, const fs::path& folder) {
  Curl c(curl_easy_init());
  std::string body;
  curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c.get(), CURLOPT_CONNECTTIMEOUT, 20L);
  curl_easy_setopt(c.get(), CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(c.get(), CURLOPT_USERAGENT, "folio/" FOLIO_VERSION);
  curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, +[](char* p, std::size_t s, std::size_t n, void* out) {
    static_cast<std::string*>(out)->append(p, s * n);
    return s * n;
  });
  curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &body);
  const CURLcode rc = curl_easy_perform(c.get());
  if (rc != CURLE_OK)
    throw Error(ErrorKind::Network, std::string("cannot list the checkpoint's files (") + curl_easy_strerror(rc) + "): " +
                                        how_to_get_it(repo, folder),
                {url});
  return body;
}

struct ListedFile {
  std::string path;
  std::uint64_t size = 0;
  std::string sha256;    // LFS files
  std::string git_sha1;  // the others
};

// The files Folio reads: top-level configs, tokenizer files, chat templates and safetensors weights
// (repos also hold ONNX exports and other formats, which are skipped).
bool wanted(const std::string& path) {
  if (path.find('/') != std::string::npos) return false;
  for (const char* ext : {".json", ".safetensors", ".txt", ".jinja"})
    if (path.size() > std::strlen(ext) && path.compare(path.size() - std::strlen(ext), std::string::npos, ext) == 0)
      return true;
  return false;
}

bool intact(const fs::path& file, const ListedFile& f) {
  std::error_code ec;
  if (!fs::exists(file, ec) || fs::file_size(file, ec) != f.size) return false;
  if (!f.sha256.empty()) return sha256_file_hex(file) == f.sha256;
  if (!f.git_sha1.empty()) return git_blob_sha1_file_hex(file) == f.git_sha1;
  return true;
}

void download(const std::string& url, const fs::path& part, const ListedFile& f, const FetchOptions& o,
              const std::string& repo, const fs::path& folder) {
  std::error_code ec;
  std::uint64_t have = fs::exists(part, ec) ? fs::file_size(part, ec) : 0;
  if (have > f.size) {
    fs::remove(part, ec);
    have = 0;
  }
  std::unique_ptr<std::FILE, FileCloser> out(std::fopen(part.c_str(), have ? "ab" : "wb"));
  if (!out) throw Error(ErrorKind::Io, "cannot write", {part.string()});
  Curl c(curl_easy_init());
  curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c.get(), CURLOPT_CONNECTTIMEOUT, 20L);
  curl_easy_setopt(c.get(), CURLOPT_LOW_SPEED_LIMIT, 1024L);  // stalled for a minute: give up, resume later
  curl_easy_setopt(c.get(), CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(c.get(), CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(c.get(), CURLOPT_USERAGENT, "folio/" FOLIO_VERSION);
  curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, out.get());
  if (have > 0) curl_easy_setopt(c.get(), CURLOPT_RESUME_FROM_LARGE, static_cast<curl_off_t>(have));
  struct Progress {
    const FetchOptions* o;
    const ListedFile* f;
    std::uint64_t have;
  } prog{&o, &f, have};
  if (o.progress) {
    curl_easy_setopt(c.get(), CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c.get(), CURLOPT_XFERINFODATA, &prog);
    curl_easy_setopt(c.get(), CURLOPT_XFERINFOFUNCTION,
                     +[](void* p, curl_off_t, curl_off_t now, curl_off_t, curl_off_t) {
                       auto* pr = static_cast<Progress*>(p);
                       pr->o->progress(pr->f->path, pr->have + static_cast<std::uint64_t>(now), pr->f->size);
                       return 0;
                     });
  }
  const CURLcode rc = curl_easy_perform(c.get());
  out.reset();
  if (rc != CURLE_OK)
    throw Error(ErrorKind::Network,
                std::string("download of ") + f.path + " stopped (" + curl_easy_strerror(rc) +
                    "); run the same command again to resume, or " + how_to_get_it(repo, folder),
                {url});
}

}  // namespace

std::string how_to_get_model(const fs::path& folder) {
  const std::string name = folder.filename().empty() ? folder.parent_path().filename().string() : folder.filename().string();
  for (const char* known : {"SmolVLM-256M-Instruct", "SmolVLM-500M-Instruct", "SmolVLM-Instruct", "SmolVLM2-2.2B-Instruct"})
    if (name == known) {
      // fetch-model puts a checkpoint in DIR/<repo name>: this very folder.
      const std::string repo = std::string("HuggingFaceTB/") + known;
      return how_to_get_it(repo, folder) + " (where the Hub is reachable: folio fetch-model " + repo + " --dir " +
             (folder.filename().empty() ? folder.parent_path() : folder).parent_path().string() + ")";
    }
  return how_to_get_it("HuggingFaceTB/SmolVLM-256M-Instruct", folder);
}

void require_model_folder(const fs::path& folder) {
  std::error_code ec;
  if (fs::is_regular_file(folder / "config.json", ec)) return;
  throw Error(ErrorKind::Model,
              std::string(fs::is_directory(folder, ec) ? "no model checkpoint in this folder (no config.json)"
                                                       : "model folder not found") +
                  ": " + how_to_get_model(folder),
              {folder.string()});
}

std::string resolve_model_name(const std::string& name) {
  static const std::map<std::string, std::string> aliases = {
      {"smolvlm-256m", "HuggingFaceTB/SmolVLM-256M-Instruct"},
      {"smolvlm-500m", "HuggingFaceTB/SmolVLM-500M-Instruct"},
      {"smolvlm-instruct", "HuggingFaceTB/SmolVLM-Instruct"},
      {"smolvlm2-2.2b", "HuggingFaceTB/SmolVLM2-2.2B-Instruct"},
  };
  if (auto it = aliases.find(name); it != aliases.end()) return it->second;
  const auto slash = name.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == name.size() || name.find('/', slash + 1) != std::string::npos ||
      name.find("..") != std::string::npos)
    throw Error(ErrorKind::Usage, "model name must be a Hub repo id (Org/Name) or one of smolvlm-256m, smolvlm-500m, "
                                  "smolvlm-instruct, smolvlm2-2.2b; not '" + name + "'");
  return name;
}

FetchResult fetch_model(const std::string& name, const FetchOptions& o) {
  global_init();
  const std::string repo = resolve_model_name(name);
  FetchResult r;
  r.folder = o.dir / repo.substr(repo.find('/') + 1);
  const auto listing = get_text(o.endpoint + "/api/models/" + repo + "/tree/" + o.revision, repo, r.folder);
  const auto j = nlohmann::json::parse(listing, nullptr, false);
  if (!j.is_array()) throw Error(ErrorKind::Network, "the Hub's file list is not what it should be", {o.endpoint});
  std::vector<ListedFile> files;
  for (const auto& e : j) {
    if (!e.is_object() || e.value("type", "") != "file" || !e.contains("path")) continue;
    ListedFile f;
    f.path = e["path"].get<std::string>();
    if (!wanted(f.path)) continue;
    f.size = e.value("size", std::uint64_t{0});
    if (e.contains("lfs") && e["lfs"].is_object()) {
      f.sha256 = e["lfs"].value("oid", std::string());
      f.size = e["lfs"].value("size", f.size);
    } else {
      f.git_sha1 = e.value("oid", std::string());
    }
    files.push_back(std::move(f));
  }
  if (files.empty()) throw Error(ErrorKind::Model, "the repository lists no checkpoint files", {repo});
  fs::create_directories(r.folder);
  for (const auto& f : files) {
    const fs::path target = r.folder / f.path, part = r.folder / (f.path + ".part");
    if (intact(target, f)) {
      r.already_present.push_back(f.path);
      continue;
    }
    download(o.endpoint + "/" + repo + "/resolve/" + o.revision + "/" + f.path, part, f, o, repo, r.folder);
    if (!intact(part, f)) {
      std::error_code ec;
      fs::remove(part, ec);  // a corrupt partial file would poison every resume
      throw Error(ErrorKind::Model, "downloaded file does not match the size and hash the Hub lists; run again",
                  {target.string()});
    }
    fs::rename(part, target);
    r.downloaded.push_back(f.path);
  }
  return r;
}

}  // namespace folio::pipeline
