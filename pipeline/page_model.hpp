// What the pipeline needs from a model, and nothing more: tile a page (a CPU stage, any thread) and
// answer questions about a prepared page (the engine thread). The real one wraps the SmolVLM engine;
// tests can put a scripted one in its place to exercise the graph without weights.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/image.hpp"
#include "engine/engine.hpp"

namespace folio::pipeline {

// A page cut into the model's tiles, ready to encode.
struct PreparedPage {
  int rows = 0, cols = 0, frames = 0;
  std::vector<float> pixel_values;  // [frames, 3, T, T]
};

struct ModelAnswer {
  std::string text;
  std::vector<float> token_logprobs;  // of every generated token, the stop token included
  std::string stop_reason;            // eos | max_new_tokens | cancelled
  std::map<std::string, double> timings_ms;
};

class PageModel {
 public:
  virtual ~PageModel() = default;
  // The longest edge PDFs should be rendered at (the image processor's size.longest_edge).
  virtual int render_longest_edge() const = 0;
  virtual PreparedPage prepare(const RgbImage& page) const = 0;
  // One answer per question; `cancel` is polled between tokens.
  virtual std::vector<ModelAnswer> answer(const PreparedPage& page, const std::vector<std::string>& questions,
                                          const std::function<bool()>& cancel) = 0;
};

struct EngineModelOptions {
  engine::EngineOptions engine;
  int max_new_tokens = 64;
};

// The SmolVLM engine as a PageModel. Throws folio::Error (Model) for a checkpoint it cannot load.
std::unique_ptr<PageModel> load_engine_model(const std::filesystem::path& model_dir, const EngineModelOptions& options);

// Confidence of an answer: exp of the mean log-probability of its tokens (the stop token included, so
// an answer the model was sure had ended scores higher), in [0, 1]; 0 for no tokens.
double answer_confidence(const std::vector<float>& token_logprobs);

}  // namespace folio::pipeline
