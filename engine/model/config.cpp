// config.json, generation_config.json and tokenizer_config.json into typed structs. Missing keys take the defaults of
// transformers' config classes (Idefics3VisionConfig, LlamaConfig), as the SmolVLM2 configs omit several;
// anything the engine does not implement is refused by name rather than guessed.
#include "engine/model/config.hpp"

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.hpp"

namespace folio::engine {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::filesystem::path& file, const std::string& key, const std::string& why) {
  throw Error(ErrorKind::Model, why, {file.string(), std::nullopt, key});
}

json read(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw Error(ErrorKind::Model, "cannot read file", {path.string()});
  auto j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) throw Error(ErrorKind::Model, "not a JSON object", {path.string()});
  return j;
}

int get_int(const json& j, const char* key, int dflt, const std::filesystem::path& file, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return dflt;
  if (!j[key].is_number_integer() || j[key].get<long long>() < 1 || j[key].get<long long>() > (1LL << 30))
    bad(file, where + key, "must be a positive integer");
  return j[key].get<int>();
}

float get_float(const json& j, const char* key, float dflt, const std::filesystem::path& file, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return dflt;
  if (!j[key].is_number() || !(j[key].get<double>() > 0)) bad(file, where + key, "must be a positive number");
  return j[key].get<float>();
}

std::string get_string(const json& j, const char* key, const std::string& dflt) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : dflt;
}

bool get_bool(const json& j, const char* key, bool dflt) {
  return j.contains(key) && j[key].is_boolean() ? j[key].get<bool>() : dflt;
}

void require(bool ok, const std::filesystem::path& file, const std::string& key, const std::string& why) {
  if (!ok) bad(file, key, why);
}

}  // namespace

ModelConfig load_model_config(const std::filesystem::path& path) {
  const json j = read(path);
  ModelConfig c;
  c.model_type = get_string(j, "model_type", "");
  if (c.model_type != "idefics3" && c.model_type != "smolvlm")
    bad(path, "model_type",
        c.model_type.empty() ? "missing; Folio runs idefics3 / smolvlm checkpoints (SmolVLM)"
                             : "'" + c.model_type + "' is not supported; Folio runs idefics3 / smolvlm checkpoints (SmolVLM)");
  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
      j["architectures"][0].is_string())
    c.architecture = j["architectures"][0].get<std::string>();

  const json vision = j.value("vision_config", json::object());
  const json text = j.value("text_config", json::object());
  if (!vision.is_object()) bad(path, "vision_config", "must be an object");
  if (!text.is_object()) bad(path, "text_config", "must be an object");

  VisionConfig& v = c.vision;
  const std::string vw = "vision_config.";
  v.hidden_size = get_int(vision, "hidden_size", v.hidden_size, path, vw);
  v.intermediate_size = get_int(vision, "intermediate_size", v.intermediate_size, path, vw);
  v.num_layers = get_int(vision, "num_hidden_layers", v.num_layers, path, vw);
  v.num_heads = get_int(vision, "num_attention_heads", v.num_heads, path, vw);
  v.image_size = get_int(vision, "image_size", v.image_size, path, vw);
  v.patch_size = get_int(vision, "patch_size", v.patch_size, path, vw);
  v.layer_norm_eps = get_float(vision, "layer_norm_eps", v.layer_norm_eps, path, vw);
  v.hidden_act = get_string(vision, "hidden_act", v.hidden_act);
  require(get_int(vision, "num_channels", 3, path, vw) == 3, path, vw + "num_channels", "must be 3 (RGB)");
  require(v.hidden_act == "gelu_pytorch_tanh" || v.hidden_act == "gelu_tanh", path, vw + "hidden_act",
          "'" + v.hidden_act + "' is not supported (the engine implements gelu_pytorch_tanh)");
  require(v.hidden_size % v.num_heads == 0, path, vw + "hidden_size", "is not divisible by num_attention_heads");
  // No divisibility check: SigLIP-so400m tiles are 384 px with 14 px patches, 27 per side; the
  // stride-14 convolution simply ignores the last 6 pixels, as patches_per_side() does.
  require(v.image_size >= v.patch_size, path, vw + "image_size", "is smaller than patch_size");

  TextConfig& t = c.text;
  const std::string tw = "text_config.";
  t.hidden_size = get_int(text, "hidden_size", t.hidden_size, path, tw);
  t.intermediate_size = get_int(text, "intermediate_size", t.intermediate_size, path, tw);
  t.num_layers = get_int(text, "num_hidden_layers", t.num_layers, path, tw);
  t.num_heads = get_int(text, "num_attention_heads", t.num_heads, path, tw);
  t.num_kv_heads = get_int(text, "num_key_value_heads", t.num_heads, path, tw);
  require(t.hidden_size % t.num_heads == 0 || text.contains("head_dim"), path, tw + "hidden_size",
          "is not divisible by num_attention_heads");
  t.head_dim = get_int(text, "head_dim", t.hidden_size / t.num_heads, path, tw);
  t.vocab_size = get_int(text, "vocab_size", t.vocab_size, path, tw);
  t.max_position_embeddings = get_int(text, "max_position_embeddings", t.max_position_embeddings, path, tw);
  t.rms_norm_eps = get_float(text, "rms_norm_eps", t.rms_norm_eps, path, tw);
  t.rope_theta = get_float(text, "rope_theta", t.rope_theta, path, tw);
  t.hidden_act = get_string(text, "hidden_act", t.hidden_act);
  t.tie_word_embeddings = get_bool(text, "tie_word_embeddings", get_bool(j, "tie_word_embeddings", false));
  require(t.hidden_act == "silu", path, tw + "hidden_act", "'" + t.hidden_act + "' is not supported (the engine implements silu)");
  require(t.num_heads % t.num_kv_heads == 0, path, tw + "num_key_value_heads", "does not divide num_attention_heads");
  require(t.head_dim % 2 == 0, path, tw + "head_dim", "must be even for rotary embeddings");
  require(!get_bool(text, "attention_bias", false), path, tw + "attention_bias", "true is not supported");
  require(!get_bool(text, "mlp_bias", false), path, tw + "mlp_bias", "true is not supported");
  require(!text.contains("rope_scaling") || text["rope_scaling"].is_null(), path, tw + "rope_scaling",
          "is set; rotary scaling is not supported");
  const std::string mt = get_string(text, "model_type", "llama");
  require(mt == "llama", path, tw + "model_type", "'" + mt + "' is not supported (the engine implements llama)");

  c.scale_factor = get_int(j, "scale_factor", c.scale_factor, path, "");
  const int side = v.patches_per_side();
  require(side % c.scale_factor == 0, path, "scale_factor", "does not divide the patches per side (" + std::to_string(side) + ")");
  if (!j.contains("image_token_id") || !j["image_token_id"].is_number_integer())
    bad(path, "image_token_id", "missing: the engine needs the id of <image>");
  c.image_token_id = j["image_token_id"].get<int>();
  require(c.image_token_id >= 0 && c.image_token_id < t.vocab_size, path, "image_token_id", "is outside the vocabulary");
  return c;
}

GenerationConfig load_generation_config(const std::filesystem::path& path) {
  const json j = read(path);
  GenerationConfig g;
  auto id = [&](const char* key) {
    if (!j.contains(key) || j[key].is_null()) return -1;
    if (!j[key].is_number_integer()) bad(path, key, "must be a token id");
    return j[key].get<int>();
  };
  g.bos_token_id = id("bos_token_id");
  g.pad_token_id = id("pad_token_id");
  if (j.contains("eos_token_id")) {
    const auto& e = j["eos_token_id"];
    if (e.is_number_integer()) {
      g.eos_token_ids.push_back(e.get<int>());
    } else if (e.is_array()) {
      for (const auto& x : e) {
        if (!x.is_number_integer()) bad(path, "eos_token_id", "must be a token id or a list of them");
        g.eos_token_ids.push_back(x.get<int>());
      }
    } else if (!e.is_null()) {
      bad(path, "eos_token_id", "must be a token id or a list of them");
    }
  }
  return g;
}

TokenizerConfig load_tokenizer_config(const std::filesystem::path& path) {
  const json j = read(path);
  TokenizerConfig t;
  // A special token is a string or an AddedToken object ({"content": ..., "__type": "AddedToken"}).
  auto token = [&](const char* key) -> std::string {
    if (!j.contains(key) || j[key].is_null()) return "";
    const auto& v = j[key];
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
    bad(path, key, "must be a token string or an object with a \"content\" string");
  };
  t.bos_token = token("bos_token");
  t.eos_token = token("eos_token");
  t.pad_token = token("pad_token");
  t.unk_token = token("unk_token");
  auto flag = [&](const char* key, bool dflt) {
    if (!j.contains(key) || j[key].is_null()) return dflt;
    if (!j[key].is_boolean()) bad(path, key, "must be true or false");
    return j[key].get<bool>();
  };
  t.add_bos_token = flag("add_bos_token", t.add_bos_token);
  t.add_eos_token = flag("add_eos_token", t.add_eos_token);
  if (j.contains("model_max_length") && !j["model_max_length"].is_null()) {
    const auto& m = j["model_max_length"];
    // transformers writes its VERY_LARGE_INTEGER (1e30) when a checkpoint sets no limit: beyond int64.
    const bool huge = (m.is_number_unsigned() && m.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) ||
                      (m.is_number_float() && m.get<double>() >= 9.2e18);
    if (!huge) {
      if (!m.is_number_integer() || m.get<long long>() < 1) bad(path, "model_max_length", "must be a positive integer");
      t.model_max_length = m.get<std::int64_t>();
    }
  }
  if (j.contains("chat_template") && !j["chat_template"].is_null()) {
    const auto& c = j["chat_template"];
    if (c.is_string()) {
      t.chat_template = c.get<std::string>();
    } else if (c.is_array()) {
      // Several named templates ([{"name": ..., "template": ...}]): transformers uses "default".
      for (const auto& e : c) {
        if (!e.is_object() || !e.contains("name") || !e["name"].is_string() || !e.contains("template") || !e["template"].is_string())
          bad(path, "chat_template", "a list of templates needs {\"name\", \"template\"} strings");
        if (e["name"] == "default") t.chat_template = e["template"].get<std::string>();
      }
      if (t.chat_template.empty()) bad(path, "chat_template", "has named templates but none called \"default\"");
    } else {
      bad(path, "chat_template", "must be a string (or a list of named templates)");
    }
  }
  t.tokenizer_class = get_string(j, "tokenizer_class", "");
  return t;
}

}  // namespace folio::engine
