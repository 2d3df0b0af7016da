// The SmolVLM engine behind the PageModel interface: tiling with the checkpoint's own processor config,
// then one page encoding and one batched answer for all of the page's questions.
#include <spdlog/spdlog.h>

#include <cmath>

#include "pipeline/page_model.hpp"
#include "stages/image_processor.hpp"

namespace folio::pipeline {
namespace {

class EngineModel final : public PageModel {
 public:
  EngineModel(const std::filesystem::path& dir, const EngineModelOptions& o)
      : processor_(stages::ImageProcessorConfig::load(dir / "preprocessor_config.json")),
        engine_(engine::Engine::load(dir, o.engine)),
        max_new_tokens_(o.max_new_tokens) {
    if (const auto note = engine::precision_note(o.engine.precision, engine_->precision()); !note.empty())
      spdlog::info(note);
  }

  int render_longest_edge() const override { return processor_.longest_edge; }

  PreparedPage prepare(const RgbImage& image) const override {
    const auto tiles = stages::tile_image(image, processor_);
    PreparedPage p;
    p.rows = tiles.rows;
    p.cols = tiles.cols;
    p.frames = static_cast<int>(tiles.frames.size());
    p.pixel_values = stages::to_pixel_values(tiles, processor_);
    return p;
  }

  std::vector<ModelAnswer> answer(const PreparedPage& page, const std::vector<std::string>& questions,
                                  const std::function<bool()>& cancel) override {
    const auto encoding = engine_->encode_page(page.pixel_values.data(), page.frames, page.rows, page.cols);
    engine::GenerateOptions o;
    o.max_new_tokens = max_new_tokens_;
    o.cancel = cancel;
    const auto answers = engine_->answer(encoding, questions, o);
    std::vector<ModelAnswer> out;
    for (std::size_t i = 0; i < answers.size(); ++i) {
      ModelAnswer m{answers[i].text, answers[i].token_logprobs, answers[i].stop_reason, answers[i].timings_ms};
      if (i == 0)
        for (const auto& [k, v] : encoding.timings_ms) m.timings_ms[k] = v;
      out.push_back(std::move(m));
    }
    return out;
  }

 private:
  stages::ImageProcessorConfig processor_;
  std::unique_ptr<engine::Engine> engine_;
  int max_new_tokens_;
};

}  // namespace

std::unique_ptr<PageModel> load_engine_model(const std::filesystem::path& model_dir, const EngineModelOptions& options) {
  return std::make_unique<EngineModel>(model_dir, options);
}

double answer_confidence(const std::vector<float>& token_logprobs) {
  if (token_logprobs.empty()) return 0.0;
  double sum = 0;
  for (float lp : token_logprobs) sum += lp;
  return std::exp(sum / static_cast<double>(token_logprobs.size()));
}

}  // namespace folio::pipeline
