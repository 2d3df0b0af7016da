// folio inspect: what a checkpoint folder holds and what the engine will need to run it.
#include <fmt/format.h>

#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "common/error.hpp"
#include "engine/io/model_folder.hpp"
#include "engine/io/safetensors.hpp"
#include "engine/text/tokenizer.hpp"
#include "stages/image_processor.hpp"

namespace folio::cli {
namespace {

nlohmann::json inspect(const std::filesystem::path& dir) {
  const auto files = engine::open_model_folder(dir);
  const auto& c = files.config;
  const auto weights = engine::WeightFiles::open(dir);
  const auto image = stages::ImageProcessorConfig::load(dir / "preprocessor_config.json");
  const auto tok = engine::text::Tokenizer::load(dir / "tokenizer.json");

  std::map<std::string, std::int64_t> params;
  std::int64_t linear_params = 0, other_params = 0;
  for (const auto& t : engine::expected_tensors(c)) {
    const auto* info = weights.find(t.name);
    if (!info) {
      if (t.optional) continue;
      throw Error(ErrorKind::Model, "missing tensor " + t.name, {dir.string()});
    }
    if (info->shape != t.shape) throw Error(ErrorKind::Model, "tensor " + t.name + " does not have the shape the config implies", {dir.string()});
    params[t.part] += info->numel();
    // Linear weights are 2-D and not embeddings; they are what int8 quantises.
    const bool linear = t.shape.size() == 2 && t.name.find("embed") == std::string::npos &&
                        t.name.find("position_embedding") == std::string::npos;
    (linear ? linear_params : other_params) += info->numel();
  }
  std::int64_t total = 0;
  for (const auto& [k, v] : params) total += v;
  std::map<std::string, int> dtypes;
  for (const auto* t : weights.all()) ++dtypes[engine::dtype_name(t->dtype)];
  // The vision patch embedding is a convolution stored 4-D but run as a matmul.
  const std::int64_t patch = static_cast<std::int64_t>(c.vision.hidden_size) * 3 * c.vision.patch_size * c.vision.patch_size;
  linear_params += patch;
  const double fp32_mb = total * 4.0 / 1e6;
  // int8: one byte per linear weight plus an f32 scale per output channel; embeddings and norms stay f32.
  const double int8_mb = (linear_params * 1.0 + (total - linear_params) * 4.0) / 1e6;

  auto id = [&](const char* t) { return tok.token_id(t) ? nlohmann::json(*tok.token_id(t)) : nlohmann::json(nullptr); };
  const int side = c.vision.patches_per_side();
  const int max_tiles = (image.longest_edge / image.tile_size) * (image.longest_edge / image.tile_size);
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
                 {"tokens_per_tile", c.tokens_per_tile()}, {"max_tiles", max_tiles + 1}}},
      {"vocabulary", {{"model", c.text.vocab_size}, {"tokenizer", tok.vocab_size()}}},
      {"special_tokens", {{"image", c.image_token_id}, {"fake_token_around_image", id("<fake_token_around_image>")},
                          {"global_image", id("<global-img>")}, {"end_of_utterance", id("<end_of_utterance>")},
                          {"im_start", id("<|im_start|>")}, {"eos", files.generation.eos_token_ids},
                          {"bos", files.generation.bos_token_id}, {"pad", files.generation.pad_token_id}}},
      {"memory_mb", {{"fp32", fp32_mb}, {"int8", int8_mb}}},
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
  std::cout << fmt::format("memory for weights: fp32 {:.0f} MB, int8 {:.0f} MB\n", j["memory_mb"]["fp32"].get<double>(),
                           j["memory_mb"]["int8"].get<double>());
}

}  // namespace

void register_inspect(CLI::App& app, CommandResult& result) {
  struct Args {
    std::string model;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("inspect", "Describe a SmolVLM checkpoint folder");
  cmd->add_option("model", args->model, "Checkpoint folder")->required();
  cmd->add_flag("--json", args->json, "One JSON object for machines");
  cmd->callback([args, &result] {
    const auto j = inspect(args->model);
    if (args->json) std::cout << j.dump(2) << '\n';
    else print_text(j);
    result.exit_code = kExitOk;
  });
}

}  // namespace folio::cli
