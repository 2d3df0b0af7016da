// Downloading a published SmolVLM checkpoint from the Hugging Face Hub (or a mirror): the file list from
// the Hub's tree API, each file Folio reads fetched with resumable transfers (HTTP ranges into FILE.part),
// checked against the listed size and hash (SHA-256 for LFS files, git's blob SHA-1 for the others),
// then renamed into place. Files already present and intact are not fetched again.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace folio::pipeline {

struct FetchOptions {
  std::string endpoint = "https://huggingface.co";  // $HF_ENDPOINT overrides, as the Hub's own tools do
  std::string revision = "main";
  std::filesystem::path dir = "models";               // the checkpoint lands in dir/<repo name>
  std::function<void(const std::string& file, std::uint64_t done, std::uint64_t total)> progress;
};

// "smolvlm-256m" | "smolvlm-500m" | "smolvlm-instruct" | "smolvlm2-2.2b" or a repo id "Org/Name".
std::string resolve_model_name(const std::string& name);

struct FetchResult {
  std::filesystem::path folder;
  std::vector<std::string> downloaded, already_present;
};

// What to download and where to put it, for a checkpoint expected in `folder`: the words fetch-model uses
// when it cannot reach the Hub. The repo is the published one named like the folder, else the default.
std::string how_to_get_model(const std::filesystem::path& folder);

// Throws folio::Error (Model) with how_to_get_model() when `folder` holds no checkpoint (no config.json),
// so that `run` and `ask` say the same as `fetch-model` does offline.
void require_model_folder(const std::filesystem::path& folder);

// Throws folio::Error (Network) with what to download and where when the Hub cannot be reached, and
// (Model) when a file does not match its listed size or hash.
FetchResult fetch_model(const std::string& name, const FetchOptions& options);

}  // namespace folio::pipeline
