// A SmolVLM checkpoint folder as downloaded from its publisher: the files Folio needs, checked at once
// (every missing file named in one error), its configs, and the tensors its config implies.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "engine/model/config.hpp"

namespace folio::engine {

struct ExpectedTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  std::string part;  // vision | connector | text | lm_head
  bool optional = false;  // lm_head.weight may be absent (tied to embed_tokens)
};

// Every tensor the model reads, with the shape the config implies (spec section 1): the one table of
// checkpoint tensor names.
std::vector<ExpectedTensor> expected_tensors(const ModelConfig& config);

struct ModelFiles {
  std::filesystem::path dir;
  ModelConfig config;
  GenerationConfig generation;
  TokenizerConfig tokenizer;  // tokenizer_config.json (the defaults when absent)
  int image_seq_len = 0;  // processor_config.json (0 when absent)
};

// Checks the folder has config.json, preprocessor_config.json, tokenizer.json and weights; throws
// folio::Error (Model) naming every missing file; loads and cross-checks the configs.
ModelFiles open_model_folder(const std::filesystem::path& dir);

}  // namespace folio::engine
