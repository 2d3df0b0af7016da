// The engine on checkpoints of other geometries of the SmolVLM family, written with random weights:
// tied and untied lm_head, other head / kv-head / layer counts, hidden sizes, head_dim, scale factor,
// tile and patch size. Nothing of tiny-a (or of any published checkpoint) may be hard-coded.
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "engine/engine.hpp"
#include "engine/io/safetensors.hpp"
#include "engine/model/random_checkpoint.hpp"
#include "stages/image_processor.hpp"
#include "support/paths.hpp"

namespace fs = std::filesystem;
using namespace folio::engine;

namespace {

struct Geometry {
  std::string name;
  ModelConfig config;
  TileGeometry tiles;
};

ModelConfig base_config() {
  ModelConfig c;
  c.model_type = "idefics3";
  c.architecture = "Idefics3ForConditionalGeneration";
  c.image_token_id = 300;
  c.text.vocab_size = 420;
  c.text.max_position_embeddings = 1024;
  return c;
}

std::vector<Geometry> geometries() {
  std::vector<Geometry> out;
  {
    // Tied lm_head, GQA 2:1, head_dim = hidden / heads, 32 px tiles of 8 px patches, scale 2.
    ModelConfig c = base_config();
    c.vision = VisionConfig{32, 64, 1, 2, 32, 8, 1e-6f, "gelu_pytorch_tanh"};
    c.scale_factor = 2;
    c.text.hidden_size = 48;
    c.text.intermediate_size = 96;
    c.text.num_layers = 2;
    c.text.num_heads = 4;
    c.text.num_kv_heads = 2;
    c.text.head_dim = 12;
    c.text.rope_theta = 10000.0f;
    c.text.tie_word_embeddings = true;
    out.push_back({"tied", c, {64, 32}});
  }
  {
    // Untied; one kv head for 8 query heads; head_dim 24 with 8 x 24 != hidden 40; 3 vision layers of
    // 3 heads; 90 px tiles of 14 px patches (6 per side, the last 6 px unused, as SigLIP-so400m's 384/14)
    // and scale 3 (as SmolVLM-2.2B); another theta, eps and image token id.
    ModelConfig c = base_config();
    c.vision = VisionConfig{48, 80, 3, 3, 90, 14, 1e-5f, "gelu_pytorch_tanh"};
    c.scale_factor = 3;
    c.image_token_id = 350;
    c.text.vocab_size = 470;
    c.text.hidden_size = 40;
    c.text.intermediate_size = 72;
    c.text.num_layers = 3;
    c.text.num_heads = 8;
    c.text.num_kv_heads = 1;
    c.text.head_dim = 24;
    c.text.rms_norm_eps = 1e-6f;
    c.text.rope_theta = 273768.0f;
    out.push_back({"mqa-scale3", c, {180, 90}});
  }
  {
    // No grouping (kv heads = heads), a single text layer, head_dim 8, 5 x 5 patches at scale 5 (one
    // token per tile).
    ModelConfig c = base_config();
    c.vision = VisionConfig{20, 40, 2, 5, 40, 8, 1e-6f, "gelu_pytorch_tanh"};
    c.scale_factor = 5;
    c.text.hidden_size = 40;
    c.text.intermediate_size = 64;
    c.text.num_layers = 1;
    c.text.num_heads = 5;
    c.text.num_kv_heads = 5;
    c.text.head_dim = 8;
    out.push_back({"mha-scale5", c, {120, 40}});
  }
  return out;
}

// A page with structure at several scales (gradients, a grid, a block), 3:2 so that it splits into
// rows x cols tiles of another count than a square.
folio::RgbImage generated_page(int width, int height) {
  folio::RgbImage img(width, height);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      std::uint8_t* p = img.row(y) + 3 * x;
      const bool grid = x % 17 == 0 || y % 13 == 0;
      const bool block = x > width / 3 && x < width / 2 && y > height / 4 && y < height / 2;
      p[0] = grid ? 0 : static_cast<std::uint8_t>(255 * x / width);
      p[1] = block ? 20 : static_cast<std::uint8_t>(255 * y / height);
      p[2] = static_cast<std::uint8_t>((x * 7 + y * 3) % 256);
    }
  return img;
}

double relative_l2(const std::vector<float>& a, const std::vector<float>& ref) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    num += (double(a[i]) - ref[i]) * (double(a[i]) - ref[i]);
    den += double(ref[i]) * ref[i];
  }
  return std::sqrt(num / den);
}

// hidden · Mᵀ in double, M [vocab, hidden] from the checkpoint file itself.
std::vector<double> times_transposed(const std::vector<float>& hidden, const std::vector<float>& m) {
  const std::size_t d = hidden.size(), rows = m.size() / d;
  std::vector<double> out(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    double s = 0;
    for (std::size_t k = 0; k < d; ++k) s += double(hidden[k]) * m[r * d + k];
    out[r] = s;
  }
  return out;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<double>& b) {
  double worst = 0;
  for (std::size_t i = 0; i < b.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  return worst;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(engine_geometries)

BOOST_AUTO_TEST_CASE(other_geometries_run_with_their_own_shapes) {
  for (const auto& g : geometries()) {
    BOOST_TEST_CONTEXT(g.name) {
      folio::test::TempDir dir("folio-geometry");
      write_random_checkpoint(dir.path(), g.config, g.tiles, 7);
      const auto engine = Engine::load(dir.path(), EngineOptions{kernels::Precision::F32, 2, text::PromptStyle::Chat});
      // The engine read the geometry from the folder, not from anywhere else.
      const auto& cfg = engine->model().config;
      BOOST_TEST(cfg.text.hidden_size == g.config.text.hidden_size);
      BOOST_TEST(cfg.text.head_dim == g.config.text.head_dim);
      BOOST_TEST(cfg.text.num_kv_heads == g.config.text.num_kv_heads);
      BOOST_TEST(cfg.scale_factor == g.config.scale_factor);
      BOOST_TEST(cfg.text.tie_word_embeddings == g.config.text.tie_word_embeddings);

      const auto image_config = folio::stages::ImageProcessorConfig::load(dir.path() / "preprocessor_config.json");
      const auto tiles = folio::stages::tile_image(generated_page(3 * g.tiles.tile_size, 2 * g.tiles.tile_size), image_config);
      const int frames = static_cast<int>(tiles.frames.size());
      BOOST_TEST(frames == tiles.rows * tiles.cols + 1);
      BOOST_TEST(frames > 2);
      const auto pv = folio::stages::to_pixel_values(tiles, image_config);
      BOOST_TEST_REQUIRE(pv.size() == static_cast<std::size_t>(frames) * 3 * g.config.vision.image_size * g.config.vision.image_size);

      const auto vision = engine->vision(pv.data(), frames);
      BOOST_TEST(vision.size() ==
                 static_cast<std::size_t>(frames) * g.config.vision.num_patches() * g.config.vision.hidden_size);
      const auto features = engine->connector(vision.data(), frames);
      BOOST_TEST(features.size() == static_cast<std::size_t>(frames) * g.config.tokens_per_tile() * g.config.text.hidden_size);
      for (float f : features) BOOST_TEST_REQUIRE(std::isfinite(f));
      const PageEncoding page = engine->encode_page(pv.data(), frames, tiles.rows, tiles.cols);
      BOOST_TEST(page.image_features == features);

      const std::string question = "What is the total?";
      const auto prompt = engine->prompts().build(question, {tiles.rows, tiles.cols, cfg.tokens_per_tile()});
      BOOST_TEST(std::count(prompt.ids.begin(), prompt.ids.end(), g.config.image_token_id) ==
                 frames * g.config.tokens_per_tile());
      const auto r = engine->prefill(prompt.ids, features);
      BOOST_TEST(r.logits_last.size() == static_cast<std::size_t>(g.config.text.vocab_size));
      BOOST_TEST(r.merged_embeddings.size() == prompt.ids.size() * g.config.text.hidden_size);
      // Embeddings, after each layer, after the final norm.
      BOOST_TEST(r.hidden_last.size() == static_cast<std::size_t>(g.config.text.num_layers) + 2);
      for (const auto& h : r.hidden_last) BOOST_TEST(h.size() == static_cast<std::size_t>(g.config.text.hidden_size));
      for (float l : r.logits_last) BOOST_TEST_REQUIRE(std::isfinite(l));

      // The lm_head is the one the config names: embed_tokens when tied, lm_head.weight otherwise.
      // fp32 products of a few dozen terms: 1e-5 is far below the logits' spread, far above rounding.
      const SafetensorsFile weights(dir.path() / "model.safetensors");
      const auto embed = to_f32(weights.at("model.text_model.embed_tokens.weight"));
      const auto via_embed = times_transposed(r.hidden_last.back(), embed);
      if (g.config.text.tie_word_embeddings) {
        BOOST_TEST(weights.find("lm_head.weight") == nullptr);
        BOOST_TEST(max_abs_diff(r.logits_last, via_embed) < 1e-5);
      } else {
        const auto via_head = times_transposed(r.hidden_last.back(), to_f32(weights.at("lm_head.weight")));
        BOOST_TEST(max_abs_diff(r.logits_last, via_head) < 1e-5);
        BOOST_TEST(max_abs_diff(r.logits_last, via_embed) > 1e-3);
      }

      // Generation: the page path (shared prefix, then the question) equals a whole-prompt generation.
      GenerateOptions o;
      o.max_new_tokens = 5;
      o.ignore_eos = true;
      const Answer whole = engine->generate(prompt.ids, features, o);
      BOOST_TEST(whole.token_ids.size() == 5u);
      const auto answers = engine->answer(page, std::vector<std::string>{question}, o);
      BOOST_TEST_REQUIRE(answers.size() == 1u);
      BOOST_TEST(answers[0].token_ids == whole.token_ids);
      BOOST_TEST(whole.token_ids.front() ==
                 std::max_element(r.logits_last.begin(), r.logits_last.end()) - r.logits_last.begin());
      for (int id : whole.token_ids) BOOST_TEST((id >= 0 && id < g.config.text.vocab_size));
    }
  }
}

// int8 against fp32 on the same geometries. Per-channel int8 weights round each weight by up to half a
// step of max|w|/127: for these uniform weights an error of std max|w|/440 against the weights' std of
// max|w|/1.7, 0.4% of each product's output, and the decoder's 16-bit activations add little to it
// (observed: 0.4% to 0.7% over these geometries). 2e-2 leaves room for the vision encoder's 8-bit
// activations and the accumulation over layers, while a wrong layout in one precision only (a
// transposed or misindexed weight, a stride taken from another geometry) gives an error of order 1.
BOOST_AUTO_TEST_CASE(int8_logits_stay_close_to_fp32_on_other_geometries) {
  for (const auto& g : geometries()) {
    BOOST_TEST_CONTEXT(g.name) {
      folio::test::TempDir dir("folio-geometry");
      write_random_checkpoint(dir.path(), g.config, g.tiles, 11);
      const auto f32 = Engine::load(dir.path(), EngineOptions{kernels::Precision::F32, 2, text::PromptStyle::Chat});
      const auto i8 = Engine::load(dir.path(), EngineOptions{kernels::Precision::Int8, 2, text::PromptStyle::Chat});
      const auto image_config = folio::stages::ImageProcessorConfig::load(dir.path() / "preprocessor_config.json");
      const auto tiles = folio::stages::tile_image(generated_page(3 * g.tiles.tile_size, 2 * g.tiles.tile_size), image_config);
      const int frames = static_cast<int>(tiles.frames.size());
      const auto pv = folio::stages::to_pixel_values(tiles, image_config);
      const auto prompt = f32->prompts().build("What is the total?", {tiles.rows, tiles.cols, g.config.tokens_per_tile()});
      const auto ref = f32->prefill(prompt.ids, f32->encode_page(pv.data(), frames, tiles.rows, tiles.cols).image_features);
      const auto got = i8->prefill(prompt.ids, i8->encode_page(pv.data(), frames, tiles.rows, tiles.cols).image_features);
      BOOST_TEST_REQUIRE(got.logits_last.size() == ref.logits_last.size());
      const double rel = relative_l2(got.logits_last, ref.logits_last);
      BOOST_TEST_MESSAGE(g.name << ": int8 vs fp32 logits relative L2 " << rel);
      BOOST_TEST(rel < 2e-2);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
