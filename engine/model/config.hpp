// Typed configuration of an Idefics3 / SmolVLM checkpoint (config.json, generation_config.json,
// tokenizer_config.json), with the library defaults applied for keys a checkpoint leaves out (spec section 2).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace folio::engine {

struct VisionConfig {
  int hidden_size = 1152;
  int intermediate_size = 3072;
  int num_layers = 12;
  int num_heads = 16;
  int image_size = 224;
  int patch_size = 32;
  float layer_norm_eps = 1e-6f;
  std::string hidden_act = "gelu_pytorch_tanh";

  int head_dim() const { return hidden_size / num_heads; }
  int patches_per_side() const { return image_size / patch_size; }
  int num_patches() const { return patches_per_side() * patches_per_side(); }
};

struct TextConfig {
  int hidden_size = 4096;
  int intermediate_size = 11008;
  int num_layers = 32;
  int num_heads = 32;
  int num_kv_heads = 32;
  int head_dim = 128;  // hidden_size / num_heads unless the config says otherwise
  int vocab_size = 32000;
  int max_position_embeddings = 2048;
  float rms_norm_eps = 1e-6f;
  float rope_theta = 10000.0f;
  std::string hidden_act = "silu";
  bool tie_word_embeddings = false;
};

struct ModelConfig {
  std::string model_type;    // "idefics3" or "smolvlm"
  std::string architecture;  // architectures[0]
  VisionConfig vision;
  TextConfig text;
  int scale_factor = 2;
  int image_token_id = -1;

  int tokens_per_tile() const { return vision.num_patches() / (scale_factor * scale_factor); }
  int connector_in() const { return vision.hidden_size * scale_factor * scale_factor; }
};

struct GenerationConfig {
  int bos_token_id = -1;
  int pad_token_id = -1;
  std::vector<int> eos_token_ids;  // generation_config.json's eos_token_id (int or list)
};

// tokenizer_config.json. Defaults are transformers' for a key left out: PreTrainedTokenizerBase has no
// special tokens and VERY_LARGE_INTEGER as model_max_length (no limit), and SmolVLM's tokenizer_class,
// GPT2Tokenizer, adds neither BOS nor EOS. Special tokens may be strings or AddedToken objects.
struct TokenizerConfig {
  std::string bos_token, eos_token, pad_token, unk_token;  // token strings; empty = none
  std::optional<std::int64_t> model_max_length;            // absent (or beyond int64) = no limit
  bool add_bos_token = false;
  bool add_eos_token = false;
  std::string chat_template;  // empty when the file has none (chat_template.json then holds it)
  std::string tokenizer_class;
};

// Throws folio::Error (Model) naming the file and key for a bad value or an unsupported model_type.
ModelConfig load_model_config(const std::filesystem::path& config_json);
GenerationConfig load_generation_config(const std::filesystem::path& generation_config_json);
TokenizerConfig load_tokenizer_config(const std::filesystem::path& tokenizer_config_json);

}  // namespace folio::engine
