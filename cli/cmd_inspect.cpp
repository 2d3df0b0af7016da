// folio inspect: what a checkpoint folder holds and what the engine will need to run it.
#include <fmt/format.h>

#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "common/error.hpp"
#include "engine/kernels/bf16_speed.hpp"
#include "engine/io/model_folder.hpp"
#include "engine/io/safetensors.hpp"
#include "engine/engine.hpp"
#include "engine/model/memory.hpp"
#include "engine/text/prompt.hpp"
#include "engine/text/tokenizer.hpp"
#include "stages/image_processor.hpp"

namespace folio::cli {
namespace {

// The memory the engine will need at each precision (engine/model/memory.hpp): weights as the layers
// keep them, the KV cache for `context` positions, and the activations of the largest page this
// checkpoint's tiling makes, with the prompt it gets (empty question).
nlohmann::json memory(const engine::ModelFiles& files, const engine::text::Tokenizer& tok,
                      const stages::ImageProcessorConfig& image, int context) {
  const auto& c = files.config;
  // A square page at the longest edge makes the most tiles (the tiling's own plan, splitting or not).
  const auto plan = stages::plan_resize(image.longest_edge, image.longest_edge, image);
  const engine::text::ImageLayout layout{plan.rows, plan.cols, c.tokens_per_tile()};
  const auto prompt = engine::text::PromptBuilder::load(files.dir, tok, c.image_token_id, engine::text::PromptStyle::Chat)
                          .build("", layout);
  const engine::MemoryShape shape{context, layout.frames(), static_cast<int>(prompt.ids.size())};
  nlohmann::json out = {{"context_tokens", shape.context_tokens},
                        {"page_frames", shape.page_frames},
                        {"page_prompt_tokens", shape.prompt_tokens}};
  for (auto p : {engine::kernels::Precision::Int8, engine::kernels::Precision::BF16, engine::kernels::Precision::F32}) {
    // bf16 runs as fp32 where bf16 products are the slower (kernels/bf16_speed.hpp): its layers are f32 then.
    const auto running = engine::kernels::effective_precision(p);
    const auto m = engine::estimate_memory(c, running, shape);
    nlohmann::json parts = nlohmann::json::array();
    for (const auto& w : m.weights) parts.push_back(nlohmann::json{{"name", w.name}, {"what", w.what}, {"bytes", w.bytes}});
    out[engine::to_string(p)] = {
        {"weights", parts},
        {"weights_bytes", m.weight_bytes()},
        {"kv_cache", {{"what", m.kv_cache.what}, {"bytes", m.kv_cache.bytes}}},
        {"page_activations", {{"what", m.activations.what}, {"bytes", m.activations.bytes}}},
        {"total_bytes", m.total_bytes()},
    };
    if (running != p) out[engine::to_string(p)]["runs_as"] = engine::to_string(running);
  }
  return out;
}

nlohmann::json inspect(const std::filesystem::path& dir, int context) {
  const auto files = engine::open_model_folder(dir);
  const auto& c = files.config;
  const auto weights = engine::WeightFiles::open(dir);
  const auto image = stages::ImageProcessorConfig::load(dir / "preprocessor_config.json");
  const auto tok = engine::text::Tokenizer::load(dir / "tokenizer.json");

  std::map<std::string, std::int64_t> params;
  for (const auto& t : engine::expected_tensors(c)) {
    const auto* info = weights.find(t.name);
    if (!info) {
      if (t.optional) continue;
      throw Error(ErrorKind::Model, "missing tensor " + t.name, {dir.string()});
    }
    if (info->shape != t.shape) throw Error(ErrorKind::Model, "tensor " + t.name + " does not have the shape the config implies", {dir.string()});
    params[t.part] += info->numel();
  }
  std::int64_t total = 0;
  for (const auto& [k, v] : params) total += v;
  std::map<std::string, int> dtypes;
  for (const auto* t : weights.all()) ++dtypes[engine::dtype_name(t->dtype)];
  if (context <= 0) context = c.text.max_position_embeddings;
  const auto mem = memory(files, tok, image, context);

  auto id = [&](const char* t) { return tok.token_id(t) ? nlohmann::json(*tok.token_id(t)) : nlohmann::json(nullptr); };
  const int side = c.vision.patches_per_side();
  return {
      {"folder", dir.string()},
      {"architecture", c.architecture},
      {"model_type", c.model_type},
      {"parameters", {{"vision", params["vision"]}, {"connector", params["connector"]}, {"text", params["text"]},
                      {"lm_head", params.count("lm_head") ? params["lm_head"] : 0}, {"total", total},
                      {"lm_head_tied", !weights.find("lm_head.weight") || c.text.tie_word_embeddings}}},
      {"stored_dtypes", dtypes},
      {"weights_bytes", weights.total_bytes()},
      {"vision", {{"hidden", c.vision.hidden_size}, {"layers", c.vision.num_layers}, {"heads", c.vision.num_heads},
                  {"mlp", c.vision.intermediate_size}}},
      {"text", {{"hidden", c.text.hidden_size}, {"layers", c.text.num_layers}, {"heads", c.text.num_heads},
                {"kv_heads", c.text.num_kv_heads}, {"head_dim", c.text.head_dim}, {"mlp", c.text.intermediate_size},
                {"rope_theta", c.text.rope_theta}, {"rms_norm_eps", c.text.rms_norm_eps},
                {"max_positions", c.text.max_position_embeddings}}},
      {"tiles", {{"longest_edge", image.longest_edge}, {"tile_size", image.tile_size}, {"patch", c.vision.patch_size},
                 {"patches_per_tile", side * side}, {"scale_factor", c.scale_factor},
                 {"tokens_per_tile", c.tokens_per_tile()}, {"max_tiles", mem["page_frames"]}}},
      {"vocabulary", {{"model", c.text.vocab_size}, {"tokenizer", tok.vocab_size()}}},
      {"special_tokens", {{"image", c.image_token_id}, {"fake_token_around_image", id("<fake_token_around_image>")},
                          {"global_image", id("<global-img>")}, {"end_of_utterance", id("<end_of_utterance>")},
                          {"im_start", id("<|im_start|>")}, {"eos", files.generation.eos_token_ids},
                          {"bos", files.generation.bos_token_id}, {"pad", files.generation.pad_token_id}}},
      {"tokenizer_config", {{"bos", files.tokenizer.bos_token}, {"eos", files.tokenizer.eos_token},
                            {"pad", files.tokenizer.pad_token}, {"unk", files.tokenizer.unk_token},
                            {"model_max_length", files.tokenizer.model_max_length ? nlohmann::json(*files.tokenizer.model_max_length)
                                                                                  : nlohmann::json(nullptr)},
                            {"add_bos_token", files.tokenizer.add_bos_token}, {"add_eos_token", files.tokenizer.add_eos_token}}},
      {"memory", mem},
      {"memory_mb", {{"int8", mem["int8"]["total_bytes"].get<double>() / 1e6},
                     {"bf16", mem["bf16"]["total_bytes"].get<double>() / 1e6},
                     {"fp32", mem["fp32"]["total_bytes"].get<double>() / 1e6}}},
  };
}

void print_text(const nlohmann::json& j) {
  const auto& p = j["parameters"];
  auto m = [](std::int64_t n) { return fmt::format("{:.2f} M", n / 1e6); };
  std::cout << fmt::format("{}  ({}, {})\n", j["folder"].get<std::string>(), j["architecture"].get<std::string>(),
                           j["model_type"].get<std::string>());
  std::cout << fmt::format("parameters: vision {}, connector {}, text {}, lm_head {}{}; total {}\n", m(p["vision"]),
                           m(p["connector"]), m(p["text"]), m(p["lm_head"]), p["lm_head_tied"].get<bool>() ? " (tied)" : "",
                           m(p["total"]));
  std::cout << "stored dtypes:";
  for (const auto& [k, v] : j["stored_dtypes"].items()) std::cout << ' ' << k << " x" << v;
  std::cout << '\n';
  const auto& t = j["tiles"];
  std::cout << fmt::format("tiles: longest edge {} px, {} px tiles (up to {} frames), patch {}, {} patches -> {} tokens per tile (scale {})\n",
                           t["longest_edge"].get<int>(), t["tile_size"].get<int>(), t["max_tiles"].get<int>(),
                           t["patch"].get<int>(), t["patches_per_tile"].get<int>(), t["tokens_per_tile"].get<int>(),
                           t["scale_factor"].get<int>());
  const auto& v = j["vision"];
  const auto& x = j["text"];
  std::cout << fmt::format("vision: {} layers, hidden {}, {} heads, MLP {}\n", v["layers"].get<int>(), v["hidden"].get<int>(),
                           v["heads"].get<int>(), v["mlp"].get<int>());
  std::cout << fmt::format("text: {} layers, hidden {}, {} heads / {} kv heads of {}, MLP {}, rope theta {}, max {} positions\n",
                           x["layers"].get<int>(), x["hidden"].get<int>(), x["heads"].get<int>(), x["kv_heads"].get<int>(),
                           x["head_dim"].get<int>(), x["mlp"].get<int>(), x["rope_theta"].get<double>(),
                           x["max_positions"].get<int>());
  std::cout << fmt::format("vocabulary: {} (tokenizer {})\n", j["vocabulary"]["model"].get<int>(), j["vocabulary"]["tokenizer"].get<int>());
  std::cout << "special tokens: " << j["special_tokens"].dump() << '\n';
  std::cout << "tokenizer_config.json: " << j["tokenizer_config"].dump() << '\n';
  const auto& mem = j["memory"];
  std::cout << fmt::format("memory the engine will need (KV cache for {} positions; the largest page: {} frames, {} prompt tokens):\n",
                           mem["context_tokens"].get<int>(), mem["page_frames"].get<int>(), mem["page_prompt_tokens"].get<int>());
  auto size = [](const nlohmann::json& bytes) {
    const double b = bytes.get<double>();
    return b < 1e6 ? fmt::format("{:.1f} kB", b / 1e3) : fmt::format("{:.1f} MB", b / 1e6);
  };
  for (const char* p : {"int8", "bf16", "fp32"}) {
    const auto& m = mem[p];
    const std::string runs_as = m.contains("runs_as") ? " (runs as " + m["runs_as"].get<std::string>() + " on this CPU)" : "";
    std::cout << fmt::format("  {}{}: {} in all\n    weights: {}\n", p, runs_as, size(m["total_bytes"]), size(m["weights_bytes"]));
    for (const auto& w : m["weights"]) std::cout << fmt::format("      {}: {}\n", w["what"].get<std::string>(), size(w["bytes"]));
    std::cout << fmt::format("    {}: {}\n    {}: {}\n", m["kv_cache"]["what"].get<std::string>(), size(m["kv_cache"]["bytes"]),
                             m["page_activations"]["what"].get<std::string>(), size(m["page_activations"]["bytes"]));
  }
}

}  // namespace

void register_inspect(CLI::App& app, CommandResult& result) {
  struct Args {
    std::string model;
    bool json = false;
    int context = 0;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("inspect", "Describe a SmolVLM checkpoint folder");
  cmd->add_option("model", args->model, "Checkpoint folder")->required();
  cmd->add_flag("--json", args->json, "One JSON object for machines");
  cmd->add_option("--context", args->context, "Positions the KV cache estimate is for (default: the model's max_position_embeddings)")
      ->check(CLI::PositiveNumber);
  cmd->callback([args, &result] {
    const auto j = inspect(args->model, args->context);
    if (args->json) std::cout << j.dump(2) << '\n';
    else print_text(j);
    result.exit_code = kExitOk;
  });
}

}  // namespace folio::cli
