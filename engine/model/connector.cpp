#include "engine/model/connector.hpp"

#include "engine/kernels/pixel_shuffle.hpp"
#include "engine/model/weights.hpp"

namespace folio::engine {

// The projection stays f32 in the int8 engine: it is one matmul over a page's few image tokens (64 or 81 a
// tile), about 0.5% of the vision encoder's work, yet at int8 its rounding alone was about a third of the
// int8 logits' error on realisations of the reference checkpoint (docs/engine.md, "Accuracy").
Connector::Connector(const ModelConfig& c, const WeightFiles& w, kernels::Precision p)
    : config_(c),
      proj_(load_tensor(w, "model.connector.modality_projection.proj.weight", {c.text.hidden_size, c.connector_in()}),
            c.text.hidden_size, c.connector_in(), {}, kernels::unquantised(p)) {}

std::vector<float> Connector::shuffle(const float* frame) const {
  std::vector<float> out(static_cast<std::size_t>(config_.tokens_per_tile()) * config_.connector_in());
  kernels::pixel_shuffle(frame, config_.vision.patches_per_side(), config_.vision.hidden_size, config_.scale_factor,
                         out.data());
  return out;
}

std::vector<float> Connector::forward(const float* vision, int frames) const {
  const std::size_t n = config_.tokens_per_tile(), in = config_.connector_in();
  const std::size_t frame_floats = static_cast<std::size_t>(config_.vision.num_patches()) * config_.vision.hidden_size;
  std::vector<float> shuffled(frames * n * in);
  for (int f = 0; f < frames; ++f)
    kernels::pixel_shuffle(vision + f * frame_floats, config_.vision.patches_per_side(), config_.vision.hidden_size,
                           config_.scale_factor, shuffled.data() + f * n * in);
  std::vector<float> out(frames * n * config_.text.hidden_size);
  proj_.forward(shuffled.data(), static_cast<int>(frames * n), out.data());
  return out;
}

}  // namespace folio::engine
