#include "engine/io/model_folder.hpp"

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.hpp"

namespace folio::engine {

std::vector<ExpectedTensor> expected_tensors(const ModelConfig& c) {
  using S = std::vector<std::int64_t>;
  const auto& v = c.vision;
  const auto& t = c.text;
  const std::int64_t dv = v.hidden_size, iv = v.intermediate_size, p = v.patch_size, dt = t.hidden_size,
                     it = t.intermediate_size, q = static_cast<std::int64_t>(t.num_heads) * t.head_dim,
                     kv = static_cast<std::int64_t>(t.num_kv_heads) * t.head_dim;
  std::vector<ExpectedTensor> out;
  const std::string vm = "model.vision_model.";
  out.push_back({vm + "embeddings.patch_embedding.weight", S{dv, 3, p, p}, "vision"});
  out.push_back({vm + "embeddings.patch_embedding.bias", S{dv}, "vision"});
  out.push_back({vm + "embeddings.position_embedding.weight", S{v.num_patches(), dv}, "vision"});
  for (int i = 0; i < v.num_layers; ++i) {
    const std::string l = vm + "encoder.layers." + std::to_string(i) + ".";
    for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      out.push_back({l + "self_attn." + proj + ".weight", S{dv, dv}, "vision"});
      out.push_back({l + "self_attn." + proj + ".bias", S{dv}, "vision"});
    }
    for (const char* ln : {"layer_norm1", "layer_norm2"}) {
      out.push_back({l + ln + ".weight", S{dv}, "vision"});
      out.push_back({l + ln + ".bias", S{dv}, "vision"});
    }
    out.push_back({l + "mlp.fc1.weight", S{iv, dv}, "vision"});
    out.push_back({l + "mlp.fc1.bias", S{iv}, "vision"});
    out.push_back({l + "mlp.fc2.weight", S{dv, iv}, "vision"});
    out.push_back({l + "mlp.fc2.bias", S{dv}, "vision"});
  }
  out.push_back({vm + "post_layernorm.weight", S{dv}, "vision"});
  out.push_back({vm + "post_layernorm.bias", S{dv}, "vision"});
  out.push_back({"model.connector.modality_projection.proj.weight", S{dt, c.connector_in()}, "connector"});
  const std::string tm = "model.text_model.";
  out.push_back({tm + "embed_tokens.weight", S{t.vocab_size, dt}, "text"});
  for (int j = 0; j < t.num_layers; ++j) {
    const std::string l = tm + "layers." + std::to_string(j) + ".";
    out.push_back({l + "self_attn.q_proj.weight", S{q, dt}, "text"});
    out.push_back({l + "self_attn.k_proj.weight", S{kv, dt}, "text"});
    out.push_back({l + "self_attn.v_proj.weight", S{kv, dt}, "text"});
    out.push_back({l + "self_attn.o_proj.weight", S{dt, q}, "text"});
    out.push_back({l + "mlp.gate_proj.weight", S{it, dt}, "text"});
    out.push_back({l + "mlp.up_proj.weight", S{it, dt}, "text"});
    out.push_back({l + "mlp.down_proj.weight", S{dt, it}, "text"});
    out.push_back({l + "input_layernorm.weight", S{dt}, "text"});
    out.push_back({l + "post_attention_layernorm.weight", S{dt}, "text"});
  }
  out.push_back({tm + "norm.weight", S{dt}, "text"});
  out.push_back({"lm_head.weight", S{t.vocab_size, dt}, "lm_head", /*optional=*/true});
  return out;
}

ModelFiles open_model_folder(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) throw Error(ErrorKind::Model, "model folder not found", {dir.string()});
  std::vector<std::string> missing;
  for (const char* f : {"config.json", "preprocessor_config.json", "tokenizer.json"})
    if (!fs::exists(dir / f)) missing.push_back(f);
  if (!fs::exists(dir / "model.safetensors") && !fs::exists(dir / "model.safetensors.index.json"))
    missing.push_back("model.safetensors (or model.safetensors.index.json and its shards)");
  if (!fs::exists(dir / "chat_template.json") && !fs::exists(dir / "tokenizer_config.json"))
    missing.push_back("chat_template.json (or tokenizer_config.json with a chat_template)");
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    throw Error(ErrorKind::Model, "incomplete checkpoint folder: missing " + list, {dir.string()});
  }
  ModelFiles m;
  m.dir = dir;
  m.config = load_model_config(dir / "config.json");
  if (fs::exists(dir / "generation_config.json")) m.generation = load_generation_config(dir / "generation_config.json");
  if (fs::exists(dir / "tokenizer_config.json")) m.tokenizer = load_tokenizer_config(dir / "tokenizer_config.json");
  if (fs::exists(dir / "processor_config.json")) {
    std::ifstream in(dir / "processor_config.json");
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      throw Error(ErrorKind::Model, "not a JSON object", {(dir / "processor_config.json").string()});
    if (j.contains("image_seq_len")) {
      if (!j["image_seq_len"].is_number_integer())
        throw Error(ErrorKind::Model, "must be an integer", {(dir / "processor_config.json").string(), std::nullopt, "image_seq_len"});
      m.image_seq_len = j["image_seq_len"].get<int>();
      if (m.image_seq_len != m.config.tokens_per_tile())
        throw Error(ErrorKind::Model,
                    "is " + std::to_string(m.image_seq_len) + " but config.json implies " +
                        std::to_string(m.config.tokens_per_tile()) + " tokens per tile",
                    {(dir / "processor_config.json").string(), std::nullopt, "image_seq_len"});
    }
  }
  return m;
}

}  // namespace folio::engine
