// The SmolVLM prompt: the checkpoint's chat template with the image first and the question after it,
// each <image> expanded into the tile block the processor makes (spec section 6), tokenized, and split
// into the page prefix (everything up to and including the image block, shared by every question of a
// page) and the question's suffix.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "engine/text/chat_template.hpp"
#include "engine/text/tokenizer.hpp"

namespace folio::engine::text {

enum class PromptStyle {
  Chat,    // the checkpoint's chat template: User:<image>QUESTION<end_of_utterance>\nAssistant:
  DocVQA,  // SmolVLM's DocVQA evaluation prompt (VLMEvalKit), for short verbatim answers
};

PromptStyle parse_prompt_style(const std::string& name);  // "chat" | "docvqa"; folio::Error (Usage) otherwise

struct ImageLayout {
  int rows = 0;  // 0 x 0: an unsplit image (one frame)
  int cols = 0;
  int tokens_per_tile = 0;
  int frames() const { return rows * cols + 1; }
};

struct Prompt {
  std::string text;              // the expanded prompt
  std::vector<int> ids;          // prefix_ids followed by suffix ids
  std::size_t prefix_length = 0; // ids[0, prefix_length) end with the image block
};

class PromptBuilder {
 public:
  // Reads chat_template.json (or tokenizer_config.json's chat_template) from the checkpoint folder.
  static PromptBuilder load(const std::filesystem::path& model_dir, const Tokenizer& tokenizer, int image_token_id,
                            PromptStyle style);
  PromptBuilder(const Tokenizer& tokenizer, ChatTemplate chat_template, int image_token_id, PromptStyle style);

  // The conversation text before image expansion (one <image> marker).
  std::string render(const std::string& question) const;
  // The block that replaces one <image> marker.
  std::string image_block(const ImageLayout& layout) const;
  // Renders, expands, tokenizes and checks that the image-token count is frames x tokens per tile.
  Prompt build(const std::string& question, const ImageLayout& layout) const;

 private:
  const Tokenizer* tokenizer_;
  ChatTemplate template_;
  int image_token_id_;
  PromptStyle style_;
  std::optional<int> bos_id_;  // prepended when tokenizer_config.json sets add_bos_token
};

}  // namespace folio::engine::text
