// folio ask: questions about one page of any document, answered from one page encoding.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "common/error.hpp"
#include "engine/engine.hpp"
#include "engine/io/npy.hpp"
#include "pipeline/fetch_model.hpp"
#include "stages/cleanup.hpp"
#include "stages/document.hpp"
#include "stages/image_processor.hpp"

namespace folio::cli {
namespace {

struct AskArgs {
  std::string model;
  std::string image;
  std::vector<std::string> questions;
  int page = 1;
  int max_new_tokens = 64;
  bool ignore_eos = false;
  std::string precision = "int8";
  std::string prompt_style = "chat";
  int threads = 0;
  bool json = false;
  std::string dump;
  std::string password;
};

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

nlohmann::json answer_json(const engine::Answer& a, const std::map<std::string, double>& extra_timings) {
  nlohmann::json t = a.timings_ms;
  for (const auto& [k, v] : extra_timings) t[k] = v;
  return {{"answer", a.text}, {"token_ids", a.token_ids}, {"token_logprobs", a.token_logprobs},
          {"stop_reason", a.stop_reason}, {"timings_ms", t}};
}

// Every question's prompt, before the vision encoder runs: a question that does not fit the model is the
// caller's to change (exit 2), and should not cost a page encoding first.
void check_prompts(const engine::Engine& eng, const AskArgs& args, const stages::Tiles& tiles,
                   const std::filesystem::path& model_dir) {
  const auto& cfg = eng.model().config;
  const engine::text::ImageLayout layout{tiles.rows, tiles.cols, cfg.tokens_per_tile()};
  const std::size_t image_tokens = static_cast<std::size_t>(layout.frames()) * layout.tokens_per_tile;
  for (const auto& q : args.questions) {
    const std::string field = fmt::format("--question '{}'", q);
    // Checked on the question alone: inside the rendered prompt it would read as a template fault.
    const auto own = eng.tokenizer().encode(q);
    const auto images = std::count(own.begin(), own.end(), cfg.image_token_id);
    if (images > 0)
      throw Error(ErrorKind::Usage,
                  fmt::format("the question holds {} image token(s) ({}), which would take the place of the page's "
                              "image features; reword it",
                              images, eng.tokenizer().token_string(cfg.image_token_id)),
                  {args.image, args.page, field});
    engine::text::Prompt prompt;
    try {
      prompt = eng.prompts().build(q, layout);
    } catch (const Error& e) {
      // Any other image-token count off from the page's features is still the request's, not the model's.
      if (e.kind() != ErrorKind::Input) throw;
      throw Error(ErrorKind::Usage, e.reason(), {args.image, args.page, field});
    }
    // The prompt and at least one answer token must fit the model's positions.
    const auto limit = static_cast<std::size_t>(cfg.text.max_position_embeddings);
    if (prompt.ids.size() >= limit) {
      const bool page_fits = eng.prompts().build("", layout).ids.size() < limit;
      throw Error(ErrorKind::Usage,
                  fmt::format("the prompt has {} tokens ({} of them for the page's {} image frames) but the model in {} "
                              "reads at most {} positions (text_config.max_position_embeddings){}",
                              prompt.ids.size(), image_tokens, layout.frames(), model_dir.string(), limit,
                              page_fits ? "; shorten the question" : ": the page alone does not fit"),
                  {args.image, args.page, field});
    }
  }
}

void run_ask(const AskArgs& args, CommandResult& result) {
  const std::filesystem::path model_dir(args.model);
  const auto t_start = Clock::now();
  engine::EngineOptions options;
  options.precision = engine::parse_precision(args.precision);
  options.prompt_style = engine::text::parse_prompt_style(args.prompt_style);
  options.threads = args.threads;

  pipeline::require_model_folder(model_dir);  // a missing model: exit 3 with what to download, as fetch-model says
  // The page first: a bad input should not cost a model load.
  const auto image_config = stages::ImageProcessorConfig::load(model_dir / "preprocessor_config.json");
  stages::OpenOptions open;
  open.password = args.password;
  open.target_longest_edge = image_config.longest_edge;
  const auto t0 = Clock::now();
  const auto doc = stages::open_document(args.image, open);
  if (args.page < 1 || args.page > doc->page_count())
    throw Error(ErrorKind::Usage, fmt::format("--page {} is outside the document's {} pages", args.page, doc->page_count()),
                {args.image});
  const stages::Page page = doc->load(args.page);
  const double load_ms = ms_since(t0);
  const auto t1 = Clock::now();
  const stages::Tiles tiles = stages::tile_image(page.image, image_config);
  const std::vector<float> pixel_values = stages::to_pixel_values(tiles, image_config);
  const double tile_ms = ms_since(t1);

  const auto t2 = Clock::now();
  const auto eng = engine::Engine::load(model_dir, options);
  const double model_ms = ms_since(t2);
  if (const auto note = engine::precision_note(options.precision, eng->precision()); !note.empty()) spdlog::info(note);
  const int frames = static_cast<int>(tiles.frames.size());
  if (image_config.tile_size != eng->model().config.vision.image_size)
    throw Error(ErrorKind::Model,
                fmt::format("preprocessor tiles are {} px but the vision encoder takes {} px", image_config.tile_size,
                            eng->model().config.vision.image_size),
                {model_dir.string()});
  check_prompts(*eng, args, tiles, model_dir);
  const engine::PageEncoding encoding = eng->encode_page(pixel_values.data(), frames, tiles.rows, tiles.cols);

  engine::GenerateOptions gen;
  gen.max_new_tokens = args.max_new_tokens;
  gen.ignore_eos = args.ignore_eos;
  const auto answers = eng->answer(encoding, args.questions, gen);

  if (!args.dump.empty()) {
    const std::filesystem::path dir(args.dump);
    const std::int64_t T = tiles.tile_size;
    engine::write_npy(dir / "pixel_values.npy", pixel_values, {frames, 3, T, T});
    const auto prompt = eng->prompts().build(args.questions.front(),
                                             {tiles.rows, tiles.cols, eng->model().config.tokens_per_tile()});
    std::vector<std::int64_t> ids(prompt.ids.begin(), prompt.ids.end());
    engine::write_npy(dir / "input_ids.npy", ids, {static_cast<std::int64_t>(ids.size())});
    const std::int64_t dt = eng->model().config.text.hidden_size;
    engine::write_npy(dir / "image_features.npy", encoding.image_features,
                      {static_cast<std::int64_t>(encoding.image_features.size()) / dt, dt});
    const auto prefill = eng->prefill(prompt.ids, encoding.image_features);
    engine::write_npy(dir / "logits_last.npy", prefill.logits_last, {static_cast<std::int64_t>(prefill.logits_last.size())});
    spdlog::info("wrote pixel_values.npy, input_ids.npy, image_features.npy, logits_last.npy to {}", dir.string());
  }

  std::map<std::string, double> shared{{"load_page", load_ms}, {"tile", tile_ms}, {"load_model", model_ms}};
  for (const auto& [k, v] : encoding.timings_ms) shared[k] = v;
  shared["total"] = ms_since(t_start);
  if (args.json) {
    if (answers.size() == 1) {
      std::cout << answer_json(answers[0], shared).dump() << '\n';
    } else {
      nlohmann::json all = nlohmann::json::array();
      for (std::size_t i = 0; i < answers.size(); ++i) {
        auto j = answer_json(answers[i], i == 0 ? shared : std::map<std::string, double>{});
        j["question"] = args.questions[i];
        all.push_back(std::move(j));
      }
      std::cout << nlohmann::json{{"answers", all}, {"timings_ms", shared}}.dump() << '\n';
    }
  } else {
    for (const auto& a : answers) std::cout << a.text << '\n';
  }
  result.exit_code = kExitOk;
}

}  // namespace

void register_ask(CLI::App& app, CommandResult& result) {
  auto args = std::make_shared<AskArgs>();
  auto* cmd = app.add_subcommand("ask", "Ask questions about one page of a document");
  cmd->add_option("--model", args->model, "SmolVLM checkpoint folder")->required();
  cmd->add_option("--image", args->image, "A PDF, TIFF or image file")->required();
  cmd->add_option("--question", args->questions, "A question (repeat for several; all share one page encoding)")->required();
  cmd->add_option("--page", args->page, "1-based page of a multi-page document")->check(CLI::PositiveNumber);
  cmd->add_option("--max-new-tokens", args->max_new_tokens, "Longest answer in tokens")->check(CLI::PositiveNumber);
  cmd->add_flag("--ignore-eos", args->ignore_eos, "Do not stop at end tokens (always generate --max-new-tokens)");
  cmd->add_option("--precision", args->precision, "int8 (default) | bf16 | fp32 (the reference)")->check(CLI::IsMember({"fp32", "bf16", "int8"}));
  cmd->add_option("--prompt-style", args->prompt_style, "chat | docvqa")->check(CLI::IsMember({"chat", "docvqa"}));
  cmd->add_option("--threads", args->threads, "Threads for the model (0 = all cores)");
  cmd->add_option("--password", args->password, "Password of an encrypted PDF");
  cmd->add_flag("--json", args->json, "Print JSON: answer, token_ids, token_logprobs, timings_ms");
  cmd->add_option("--dump", args->dump, "Write pixel_values, input_ids, image_features and logits_last as .npy files here");
  cmd->callback([args, &result] { run_ask(*args, result); });
}

}  // namespace folio::cli
