#include "engine/model/shapes.hpp"

#include "common/error.hpp"

namespace folio::engine {
namespace {

struct Shape {
  const char* name;
  int v_hidden, v_mlp, v_layers, v_heads, v_image, v_patch;
  int scale;
  int t_hidden, t_mlp, t_layers, t_heads, t_kv, vocab, max_pos, image_token;
  float theta;
  int longest_edge, tile;
};

constexpr Shape kShapes[] = {
    {"smolvlm-256m", 768, 3072, 12, 12, 512, 16, 4, 576, 1536, 30, 9, 3, 49280, 8192, 49190, 100000.0f, 2048, 512},
    {"smolvlm-500m", 768, 3072, 12, 12, 512, 16, 4, 960, 2560, 32, 15, 5, 49280, 8192, 49190, 100000.0f, 2048, 512},
    {"smolvlm-2.2b", 1152, 4304, 27, 16, 384, 14, 3, 2048, 8192, 24, 32, 32, 49280, 8192, 49190, 273768.0f, 1536, 384},
    {"smolvlm-instruct", 1152, 4304, 27, 16, 384, 14, 3, 2048, 8192, 24, 32, 32, 49155, 16384, 49153, 273768.0f, 1536, 384},
};

const Shape& find(std::string_view name) {
  for (const auto& s : kShapes)
    if (name == s.name) return s;
  std::string known;
  for (const auto& s : kShapes) known += std::string(known.empty() ? "" : ", ") + s.name;
  throw Error(ErrorKind::Usage, "unknown model shape '" + std::string(name) + "' (known: " + known + ")");
}

}  // namespace

ModelConfig published_shape(std::string_view name) {
  const Shape& s = find(name);
  ModelConfig c;
  c.model_type = "idefics3";
  c.architecture = "Idefics3ForConditionalGeneration";
  c.vision.hidden_size = s.v_hidden;
  c.vision.intermediate_size = s.v_mlp;
  c.vision.num_layers = s.v_layers;
  c.vision.num_heads = s.v_heads;
  c.vision.image_size = s.v_image;
  c.vision.patch_size = s.v_patch;
  c.scale_factor = s.scale;
  c.text.hidden_size = s.t_hidden;
  c.text.intermediate_size = s.t_mlp;
  c.text.num_layers = s.t_layers;
  c.text.num_heads = s.t_heads;
  c.text.num_kv_heads = s.t_kv;
  c.text.head_dim = s.t_hidden / s.t_heads;
  c.text.vocab_size = s.vocab;
  c.text.max_position_embeddings = s.max_pos;
  c.text.rms_norm_eps = 1e-5f;
  c.text.rope_theta = s.theta;
  c.image_token_id = s.image_token;
  return c;
}

std::vector<std::string> published_shape_names() {
  std::vector<std::string> out;
  for (const auto& s : kShapes) out.emplace_back(s.name);
  return out;
}

TileGeometry published_tiling(std::string_view name) {
  const Shape& s = find(name);
  return {s.longest_edge, s.tile};
}

}  // namespace folio::engine
