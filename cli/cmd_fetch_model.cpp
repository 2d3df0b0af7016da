// folio fetch-model: a published SmolVLM checkpoint from the Hugging Face Hub into models/.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

#include "cli/command.hpp"
#include "common/error.hpp"
#include "pipeline/fetch_model.hpp"

namespace folio::cli {

void register_fetch_model(CLI::App& app, CommandResult& result) {
  struct Args {
    std::string name = "HuggingFaceTB/SmolVLM-256M-Instruct", dir = "models", endpoint, revision = "main";
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("fetch-model", "Download a published SmolVLM checkpoint (resumable, checked)");
  cmd->add_option("name", a->name,
                  "Hub repo id, or smolvlm-256m | smolvlm-500m | smolvlm-instruct | smolvlm2-2.2b "
                  "(default: HuggingFaceTB/SmolVLM-256M-Instruct)");
  cmd->add_option("--dir", a->dir, "Folder the checkpoint folder goes into (default: models)");
  cmd->add_option("--endpoint", a->endpoint, "Hub address (default: $HF_ENDPOINT or https://huggingface.co)");
  cmd->add_option("--revision", a->revision, "Branch, tag or commit (default: main)");
  cmd->callback([a, &result] {
    pipeline::FetchOptions o;
    o.dir = a->dir;
    o.revision = a->revision;
    if (!a->endpoint.empty()) o.endpoint = a->endpoint;
    else if (const char* env = std::getenv("HF_ENDPOINT")) o.endpoint = env;
    o.progress = [last = std::string()](const std::string& file, std::uint64_t /*done*/, std::uint64_t total) mutable {
      if (file != last) spdlog::info("fetching {} ({:.1f} MB)", file, total / 1e6);
      last = file;
    };
    try {
      const auto r = pipeline::fetch_model(a->name, o);
      fmt::print("{}: {} files downloaded, {} already present\n", r.folder.string(), r.downloaded.size(),
                 r.already_present.size());
      result.exit_code = kExitOk;
    } catch (const Error& e) {
      // Without the model nothing else can run: the same code as a model that cannot be loaded.
      if (e.kind() == ErrorKind::Network || e.kind() == ErrorKind::Model) {
        spdlog::error("{}", e.what());
        result.exit_code = kExitModel;
        return;
      }
      throw;
    }
  });
}

}  // namespace folio::cli
