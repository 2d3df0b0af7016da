#include "engine/model/random_checkpoint.hpp"

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/atomic_file.hpp"
#include "common/error.hpp"
#include "engine/io/model_folder.hpp"
#include "engine/io/safetensors.hpp"
#include "engine/model/shapes.hpp"
#include "engine/text/byte_level.hpp"

namespace folio::engine {
namespace {

using nlohmann::json;

void write_json(const std::filesystem::path& path, const json& j) { write_file_atomic(path, j.dump(2) + "\n"); }

// SmolVLM's added tokens in their real order from id 49152: <global-img>, <row_r_col_c> for r, c in 1..6,
// <fake_token_around_image>, <image>, 88 reserved tokens, <end_of_utterance> (49279).
json tokenizer_json(int image_token_id) {
  json vocab = json::object();
  json added = json::array();
  const char* specials[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  for (int i = 0; i < 3; ++i) {
    vocab[specials[i]] = i;
    added.push_back({{"id", i}, {"content", specials[i]}, {"special", true}});
  }
  for (int b = 0; b < 256; ++b) {
    std::string s;
    text::append_utf8(s, text::byte_to_char(static_cast<std::uint8_t>(b)));
    vocab[s] = 3 + b;
  }
  std::vector<std::string> names{"<global-img>"};
  for (int r = 1; r <= 6; ++r)
    for (int c = 1; c <= 6; ++c) names.push_back("<row_" + std::to_string(r) + "_col_" + std::to_string(c) + ">");
  names.push_back("<fake_token_around_image>");
  names.push_back("<image>");
  const int first = image_token_id - static_cast<int>(names.size()) + 1;  // <image> lands on the config's id
  while (names.size() < 127) names.push_back("<|reserved_special_token_" + std::to_string(names.size() - 39) + "|>");
  names.push_back("<end_of_utterance>");
  for (std::size_t i = 0; i < names.size(); ++i)
    added.push_back({{"id", first + static_cast<int>(i)}, {"content", names[i]}, {"special", true}});
  return {{"version", "1.0"},
          {"added_tokens", added},
          {"normalizer", nullptr},
          {"pre_tokenizer",
           {{"type", "Sequence"},
            {"pretokenizers",
             {{{"type", "Digits"}, {"individual_digits", true}},
              {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}}}}},
          {"post_processor", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}}},
          {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array()}}}};
}

constexpr const char* kChatTemplate =
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}{% if message['content'][0]['type'] == "
    "'image' %}{{':'}}{% else %}{{': '}}{% endif %}{% for line in message['content'] %}{% if line['type'] == 'text' "
    "%}{{line['text']}}{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}";

}  // namespace

void write_random_checkpoint(const std::filesystem::path& dir, std::string_view shape, std::uint64_t seed) {
  write_random_checkpoint(dir, published_shape(shape), published_tiling(shape), seed);
}

void write_random_checkpoint(const std::filesystem::path& dir, const ModelConfig& c, const TileGeometry& tiles,
                             std::uint64_t seed) {
  // 3 specials + 256 bytes below the 38 added tokens before <image>; <end_of_utterance> 89 above it.
  if (c.image_token_id < 3 + 256 + 38 || c.text.vocab_size < c.image_token_id + 90)
    throw Error(ErrorKind::Usage, "a random checkpoint needs image_token_id >= 297 and vocab_size >= image_token_id + 90 (got " +
                                      std::to_string(c.image_token_id) + " and " + std::to_string(c.text.vocab_size) + ")",
                {dir.string()});
  const bool tied = c.text.tie_word_embeddings;
  std::filesystem::create_directories(dir);
  const json vision = {{"hidden_size", c.vision.hidden_size},      {"intermediate_size", c.vision.intermediate_size},
                       {"num_hidden_layers", c.vision.num_layers}, {"num_attention_heads", c.vision.num_heads},
                       {"image_size", c.vision.image_size},        {"patch_size", c.vision.patch_size},
                       {"layer_norm_eps", c.vision.layer_norm_eps}, {"hidden_act", "gelu_pytorch_tanh"}};
  const json text = {{"hidden_size", c.text.hidden_size},
                     {"intermediate_size", c.text.intermediate_size},
                     {"num_hidden_layers", c.text.num_layers},
                     {"num_attention_heads", c.text.num_heads},
                     {"num_key_value_heads", c.text.num_kv_heads},
                     {"head_dim", c.text.head_dim},
                     {"vocab_size", c.text.vocab_size},
                     {"max_position_embeddings", c.text.max_position_embeddings},
                     {"rms_norm_eps", c.text.rms_norm_eps},
                     {"rope_theta", c.text.rope_theta},
                     {"model_type", "llama"},
                     {"hidden_act", "silu"},
                     {"tie_word_embeddings", tied}};
  write_json(dir / "config.json", {{"architectures", {c.architecture}},
                                   {"model_type", c.model_type},
                                   {"image_token_id", c.image_token_id},
                                   {"scale_factor", c.scale_factor},
                                   {"tie_word_embeddings", tied},
                                   {"vision_config", vision},
                                   {"text_config", text}});
  const int eos = c.image_token_id + 89;  // <end_of_utterance>, as in the published vocabularies
  write_json(dir / "generation_config.json", {{"bos_token_id", 1}, {"eos_token_id", eos}, {"pad_token_id", 2}});
  write_json(dir / "preprocessor_config.json",
             {{"do_convert_rgb", true}, {"do_image_splitting", true}, {"do_normalize", true}, {"do_rescale", true},
              {"do_resize", true}, {"image_mean", {0.5, 0.5, 0.5}}, {"image_std", {0.5, 0.5, 0.5}},
              {"max_image_size", {{"longest_edge", tiles.tile_size}}}, {"resample", 1},
              {"rescale_factor", 1.0 / 255.0}, {"size", {{"longest_edge", tiles.longest_edge}}}});
  write_json(dir / "processor_config.json", {{"image_seq_len", c.tokens_per_tile()}});
  write_json(dir / "chat_template.json", {{"chat_template", kChatTemplate}});
  write_json(dir / "tokenizer.json", tokenizer_json(c.image_token_id));

  std::vector<TensorSpec> specs;
  for (const auto& t : expected_tensors(c))
    if (!(tied && t.part == "lm_head")) specs.push_back({t.name, DType::BF16, t.shape});
  std::uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  write_safetensors(dir / "model.safetensors", specs, [&](std::size_t i, std::span<std::byte> bytes) {
    const auto& name = specs[i].name;
    const bool vector = specs[i].shape.size() == 1;
    const bool norm = vector && name.find("norm") != std::string::npos;
    auto* out = reinterpret_cast<std::uint16_t*>(bytes.data());
    const std::size_t n = bytes.size() / 2;
    for (std::size_t k = 0; k < n; ++k) {
      float v = norm ? 1.0f : 0.0f;
      if (!vector) {
        // xorshift64*: fast enough for billions of values; uniform in [-a, a] with std 0.02.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        const float u = static_cast<float>((state * 0x2545F4914F6CDD1Dull) >> 40) / static_cast<float>(1 << 24);
        v = (2.0f * u - 1.0f) * 0.0346f;
      }
      std::uint32_t b;
      std::memcpy(&b, &v, 4);
      out[k] = static_cast<std::uint16_t>(b >> 16);
    }
  });
}

}  // namespace folio::engine
