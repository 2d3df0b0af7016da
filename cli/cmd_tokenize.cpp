// folio tokenize: a debugging aid that shows how a checkpoint's tokenizer splits text.
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "common/error.hpp"
#include "engine/text/tokenizer.hpp"

namespace folio::cli {

void register_tokenize(CLI::App& app, CommandResult& result) {
  struct Args {
    std::string model, text, file;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("tokenize", "Show the token ids and pieces of a text");
  cmd->add_option("model", args->model, "SmolVLM checkpoint folder (its tokenizer.json)")->required();
  cmd->add_option("text", args->text, "Text to tokenize (special tokens such as <image> are matched whole)");
  cmd->add_option("--file", args->file, "Tokenize this file's bytes instead");
  cmd->add_flag("--json", args->json, "Print {\"ids\": [...], \"pieces\": [...]}");
  cmd->callback([args, &result] {
    const auto tok = engine::text::Tokenizer::load(std::filesystem::path(args->model) / "tokenizer.json");
    std::string text = args->text;
    if (!args->file.empty()) {
      std::ifstream in(args->file, std::ios::binary);
      if (!in) throw Error(ErrorKind::Usage, "cannot read the file to tokenize", {args->file});
      text.assign(std::istreambuf_iterator<char>(in), {});
    }
    const auto enc = tok.encode_full(text);
    if (args->json) {
      std::cout << nlohmann::json{{"ids", enc.ids}, {"pieces", enc.pieces}}.dump(-1, ' ', false,
                                                                                 nlohmann::json::error_handler_t::replace)
                << '\n';
    } else {
      for (std::size_t i = 0; i < enc.ids.size(); ++i)
        std::cout << fmt::format("{:>7}  {}{}\n", enc.ids[i], enc.pieces[i], tok.is_special(enc.ids[i]) ? "  (special)" : "");
      std::cout << enc.ids.size() << " tokens\n";
    }
    result.exit_code = kExitOk;
  });
}

}  // namespace folio::cli
