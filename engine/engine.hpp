// The SmolVLM engine: load a checkpoint once, encode a page once, answer a page's questions.
// The engine knows nothing of documents, files or schemas; it has one owner thread (oneDNN runs on that
// thread's OpenMP team), so calls must not overlap.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/io/model_folder.hpp"
#include "engine/kernels/linear.hpp"
#include "engine/text/prompt.hpp"
#include "engine/text/tokenizer.hpp"

namespace folio::engine {

struct EngineOptions {
  kernels::Precision precision = kernels::Precision::F32;
  int threads = 0;  // OpenMP threads for the engine's calls; 0 = OpenMP's default
  text::PromptStyle prompt_style = text::PromptStyle::Chat;
  // bf16 runs as fp32 where bf16 products are the slower (kernels/bf16_speed.hpp); false keeps bf16
  // anyway (the accuracy tests check the bf16 kernels on every CPU).
  bool precision_fallback = true;
};

kernels::Precision parse_precision(const std::string& name);  // int8 | bf16 | fp32
const char* to_string(kernels::Precision precision);
// A sentence for the log when the layers run in another precision than the one asked for, else empty.
std::string precision_note(kernels::Precision requested, kernels::Precision running);

struct GenerateOptions {
  int max_new_tokens = 64;
  bool ignore_eos = false;            // never stop at an end token (tests replay fixed-length goldens)
  std::function<bool()> cancel;       // checked between tokens; true stops the answer ("cancelled")
};

struct Answer {
  std::string text;                   // decoded, special tokens skipped, trimmed
  std::vector<int> token_ids;         // generated ids (the stop token included when one ended it)
  std::vector<float> token_logprobs;  // log-softmax of each chosen token
  std::string stop_reason;            // eos | max_new_tokens | cancelled
  std::map<std::string, double> timings_ms;
};

// What encoding a page produced: the connector's output for every frame.
struct PageEncoding {
  int rows = 0;
  int cols = 0;
  int frames = 0;
  std::vector<float> image_features;  // [frames * tokens_per_tile, text hidden]
  std::map<std::string, double> timings_ms;
};

// A whole prompt through the decoder, for tests and --dump.
struct PrefillResult {
  std::vector<float> logits_last;                     // [vocab]
  std::vector<std::vector<float>> hidden_last;        // embeddings, after each layer, after the final norm
  std::vector<float> merged_embeddings;               // [L, hidden]
};

class Engine {
 public:
  // Throws folio::Error (Model) for a folder that cannot be loaded.
  static std::unique_ptr<Engine> load(const std::filesystem::path& model_dir, const EngineOptions& options);
  ~Engine();

  const ModelFiles& model() const;
  const text::Tokenizer& tokenizer() const;
  const text::PromptBuilder& prompts() const;
  std::vector<int> stop_ids() const;
  // The precision the layers run in: the requested one, except bf16 on a CPU where bf16 products are
  // slower than f32 (kernels/bf16_speed.hpp), which runs as fp32.
  kernels::Precision precision() const;

  // pixel_values: [frames, 3, T, T]; rows x cols tiles plus the global image (or one frame, 0 x 0).
  PageEncoding encode_page(const float* pixel_values, int frames, int rows, int cols) const;
  // The page's prompt prefix is prefilled once; each question's suffix on top of it.
  std::vector<Answer> answer(const PageEncoding& page, std::span<const std::string> questions,
                             const GenerateOptions& options) const;
  // Greedy continuation of a full prompt (image features merged into its <image> positions).
  Answer generate(const std::vector<int>& ids, const std::vector<float>& image_features, const GenerateOptions& options) const;

  // Lower-level pieces, for tests and --dump.
  std::vector<float> vision(const float* pixel_values, int frames) const;  // [frames * patches, vision hidden]
  std::vector<float> connector(const float* vision, int frames) const;
  std::vector<float> pixel_shuffle(const float* vision_frame) const;
  PrefillResult prefill(const std::vector<int>& ids, const std::vector<float>& image_features) const;

  class Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace folio::engine
