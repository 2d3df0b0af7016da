// Model files: the safetensors reader refuses every kind of damaged file with its own error naming the
// file and tensor; sharded checkpoints load the same bytes as single files; config defaults and refusals;
// incomplete folders; index, generation and tokenizer configs; .npy round trips and .npz archives;
// `folio inspect` (memory estimate included) and `folio tokenize` on the reference checkpoint.
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "engine/engine.hpp"
#include "engine/io/model_folder.hpp"
#include "engine/io/npy.hpp"
#include "engine/io/npz.hpp"
#include "engine/io/safetensors.hpp"
#include "engine/model/config.hpp"
#include "engine/model/connector.hpp"
#include "engine/model/siglip_vision.hpp"
#include "engine/model/smollm_text.hpp"
#include "engine/text/prompt.hpp"
#include "engine/text/tokenizer.hpp"
#include "support/paths.hpp"

namespace fs = std::filesystem;
using folio::Error;
using nlohmann::json;
namespace eng = folio::engine;

namespace {

fs::path checkpoint() { return folio::test::reference_dir() / "tiny-a" / "checkpoint"; }

// A safetensors file from a header object and a data section, written byte for byte as given.
void write_raw(const fs::path& path, const std::string& header, const std::string& data, std::uint64_t header_len) {
  std::ofstream out(path, std::ios::binary);
  char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>(header_len >> (8 * i) & 0xff);
  out.write(len, 8);
  out << header << data;
}
void write_raw(const fs::path& path, const std::string& header, const std::string& data) {
  write_raw(path, header, data, header.size());
}

std::string bytes_of(const eng::TensorInfo& t) {
  return std::string(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size());
}

// Rewrites tensors of the reference checkpoint into a new file; `edit` may change an entry (or drop it
// by returning false).
template <typename Edit>
void rewrite(const std::vector<const eng::TensorInfo*>& tensors, const fs::path& path, Edit edit) {
  json header = json::object();
  std::string data;
  for (const auto* t : tensors) {
    json e = {{"dtype", eng::dtype_name(t->dtype)}, {"shape", t->shape}};
    if (!edit(t->name, e)) continue;
    e["data_offsets"] = {data.size(), data.size() + t->bytes.size()};
    header[t->name] = e;
    data += bytes_of(*t);
  }
  write_raw(path, header.dump(), data);
}

// A copy of the reference checkpoint folder without its weights, for variants of them.
fs::path copy_configs(const fs::path& to) {
  for (const auto& e : fs::directory_iterator(checkpoint()))
    if (e.path().extension() != ".safetensors") fs::copy(e.path(), to / e.path().filename());
  return to;
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

json reference_config() {
  std::ifstream in(checkpoint() / "config.json");
  return json::parse(in);
}

std::string config_error(const json& config) {
  folio::test::TempDir dir;
  std::ofstream(dir.path() / "config.json") << config.dump();
  return error_of([&] { eng::load_model_config(dir.path() / "config.json"); });
}

}  // namespace

BOOST_AUTO_TEST_SUITE(safetensors_validation)

BOOST_AUTO_TEST_CASE(reference_checkpoint_opens_with_every_expected_tensor) {
  const auto weights = eng::WeightFiles::open(checkpoint());
  const auto config = eng::load_model_config(checkpoint() / "config.json");
  for (const auto& t : eng::expected_tensors(config)) {
    const auto* info = weights.find(t.name);
    if (!info && t.optional) continue;
    BOOST_TEST_REQUIRE(info != nullptr, t.name);
    BOOST_TEST(info->shape == t.shape, t.name);
  }
}

BOOST_AUTO_TEST_CASE(each_defect_has_its_own_error_naming_file_and_tensor) {
  folio::test::TempDir dir;
  const auto f = dir.path() / "bad.safetensors";
  const std::string eight(8, '\0');
  auto open_error = [&] { return error_of([&] { eng::SafetensorsFile s(f); }); };
  struct Case {
    const char* what;
    std::string header, data;
    const char* expect;
    const char* tensor;
  };
  const std::vector<Case> cases = {
      {"bad json", "{\"a\": {\"dtype\": ", eight, "not valid JSON", nullptr},
      {"not an object", "[1,2]", "", "not a JSON object", nullptr},
      {"unknown dtype", R"({"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", eight, "unknown dtype 'Q4'", "w"},
      {"shape mismatch", R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight, "shape times F32 size is 12", "w"},
      {"past the end", R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", eight, "run past the data section", "w"},
      {"overlap",
       R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
       eight, "overlaps tensor a", "b"},
      {"offsets reversed", R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", eight, "begin after they end", "w"},
      {"negative dim", R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight, "negative", "w"},
      {"missing field", R"({"w":{"dtype":"F32","shape":[2]}})", eight, "needs dtype, shape and data_offsets", "w"},
      {"bad metadata", R"({"__metadata__":{"format":3}})", "", "__metadata__", nullptr},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.what) {
      write_raw(f, c.header, c.data);
      const auto e = open_error();
      BOOST_TEST(contains(e, c.expect), e);
      BOOST_TEST(contains(e, f.string()), e);
      if (c.tensor) BOOST_TEST(contains(e, std::string("tensor ") + c.tensor), e);
    }
  }
  // Header length larger than the file, and a file shorter than the length field itself.
  write_raw(f, "{}", "", 1ull << 40);
  BOOST_TEST(contains(open_error(), "does not fit in the file"));
  std::ofstream(f, std::ios::binary) << "abc";
  BOOST_TEST(contains(open_error(), "shorter than the 8-byte header length"));
}

BOOST_AUTO_TEST_CASE(truncated_reference_file) {
  folio::test::TempDir dir;
  const auto f = dir.path() / "model.safetensors";
  fs::copy(checkpoint() / "model.safetensors", f);
  fs::resize_file(f, fs::file_size(f) - 100);
  const auto e = error_of([&] { eng::SafetensorsFile s(f); });
  BOOST_TEST(contains(e, "file truncated?"), e);
  BOOST_TEST(contains(e, "tensor "), e);
}

BOOST_AUTO_TEST_CASE(half_precision_converts_exactly) {
  folio::test::TempDir dir;
  const auto f = dir.path() / "h.safetensors";
  // 1.0, -2.5, 65504 (max half), 2^-24 (smallest subnormal half) in F16; 1.0, -3.0 in BF16.
  const std::uint16_t f16[] = {0x3c00, 0xc100, 0x7bff, 0x0001};
  const std::uint16_t bf16[] = {0x3f80, 0xc040};
  std::string data(reinterpret_cast<const char*>(f16), sizeof f16);
  data.append(reinterpret_cast<const char*>(bf16), sizeof bf16);
  write_raw(f, R"({"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]}})", data);
  eng::SafetensorsFile s(f);
  BOOST_TEST((eng::to_f32(s.at("h")) == std::vector<float>{1.0f, -2.5f, 65504.0f, 5.9604644775390625e-8f}));
  BOOST_TEST((eng::to_f32(s.at("b")) == std::vector<float>{1.0f, -3.0f}));
  BOOST_TEST(contains(error_of([&] { s.at("nope"); }), "missing tensor"));
}

BOOST_AUTO_TEST_CASE(sharded_checkpoint_holds_the_same_bytes_and_answers_the_same) {
  folio::test::TempDir dir;
  const auto folder = copy_configs(dir.path());
  const auto single = eng::WeightFiles::open(checkpoint());
  const auto all = single.all();
  // Two shards, alternating tensors, and the index that maps them.
  std::vector<const eng::TensorInfo*> a, b;
  json map = json::object();
  for (std::size_t i = 0; i < all.size(); ++i) {
    const bool first = i % 2 == 0;
    (first ? a : b).push_back(all[i]);
    map[all[i]->name] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  rewrite(a, folder / "model-00001-of-00002.safetensors", [](const std::string&, json&) { return true; });
  rewrite(b, folder / "model-00002-of-00002.safetensors", [](const std::string&, json&) { return true; });
  std::ofstream(folder / "model.safetensors.index.json") << json{{"metadata", {{"total_size", 0}}}, {"weight_map", map}}.dump();

  const auto sharded = eng::WeightFiles::open(folder);
  BOOST_TEST(sharded.all().size() == all.size());
  for (const auto* t : all) {
    const auto& s = sharded.at(t->name);
    BOOST_TEST(s.shape == t->shape, t->name);
    BOOST_TEST(bytes_of(s) == bytes_of(*t), t->name);
  }

  // The same model runs from the shards, token for token as transformers did.
  const fs::path ref = folio::test::reference_dir() / "tiny-a";
  for (const auto& e : fs::directory_iterator(ref / "cases")) {
    if (!fs::exists(e.path() / "golden.json")) continue;
    std::ifstream in(e.path() / "golden.json");
    const auto g = json::parse(in);
    std::string question;
    for (const auto& item : g["prompt"]["messages"][0]["content"])
      if (item["type"] == "text") question = item["text"].get<std::string>();
    const auto r = folio::test::run_command(folio::test::folio_bin() + " ask --model " + folder.string() + " --image " +
                                            (ref / "images" / g["image"]["file"].get<std::string>()).string() +
                                            " --question '" + question + "' --max-new-tokens 16 --ignore-eos --precision fp32 --json 2>&1");
    BOOST_TEST_REQUIRE(r.status == 0, r.out);
    BOOST_TEST((json::parse(r.out)["token_ids"].get<std::vector<int>>() ==
                g["outputs"]["generated_ids"].get<std::vector<int>>()));
    break;  // one case proves the loading path; the golden suite covers the rest
  }

  // A shard the index names but the folder lacks is named.
  fs::remove(folder / "model-00002-of-00002.safetensors");
  const auto e = error_of([&] { eng::WeightFiles::open(folder); });
  BOOST_TEST(contains(e, "model-00002-of-00002.safetensors, which is missing"), e);
}

BOOST_AUTO_TEST_CASE(missing_tensor_and_wrong_shape_are_named_at_load) {
  const auto single = eng::WeightFiles::open(checkpoint());
  const auto config = eng::load_model_config(checkpoint() / "config.json");
  // Pick a required tensor of the text part and one 2-D tensor to transpose.
  std::string dropped, transposed;
  for (const auto& t : eng::expected_tensors(config)) {
    if (t.optional) continue;
    if (dropped.empty() && t.part == "text" && t.shape.size() == 2) dropped = t.name;
    else if (transposed.empty() && t.part == "vision" && t.shape.size() == 2 && t.shape[0] != t.shape[1]) transposed = t.name;
  }
  BOOST_TEST_REQUIRE(!dropped.empty());
  BOOST_TEST_REQUIRE(!transposed.empty());
  {
    folio::test::TempDir dir;
    copy_configs(dir.path());
    rewrite(single.all(), dir.path() / "model.safetensors", [&](const std::string& n, json&) { return n != dropped; });
    const auto e = error_of([&] { eng::Engine::load(dir.path(), {}); });
    BOOST_TEST(contains(e, dropped), e);
    BOOST_TEST(contains(e, "missing"), e);
  }
  {
    folio::test::TempDir dir;
    copy_configs(dir.path());
    rewrite(single.all(), dir.path() / "model.safetensors", [&](const std::string& n, json& e) {
      if (n == transposed) e["shape"] = {e["shape"][1], e["shape"][0]};
      return true;
    });
    const auto e = error_of([&] { eng::Engine::load(dir.path(), {}); });
    BOOST_TEST(contains(e, transposed), e);
    BOOST_TEST(contains(e, "shape"), e);
  }
}

// Each defect of a sharded checkpoint's index is its own error naming the index (or the shard).
BOOST_AUTO_TEST_CASE(index_defects_are_named) {
  const auto single = eng::WeightFiles::open(checkpoint());
  const auto all = single.all();
  BOOST_TEST_REQUIRE(all.size() >= 2u);
  const std::string a = "model-00001-of-00002.safetensors", b = "model-00002-of-00002.safetensors";
  // Shards: the first tensor in a, the rest in b; `extra_in_a` also stores the second tensor in a.
  auto make = [&](const fs::path& folder, const json& weight_map, bool extra_in_a) {
    std::vector<const eng::TensorInfo*> in_a{all[0]}, in_b(all.begin() + 1, all.end());
    if (extra_in_a) in_a.push_back(all[1]);
    rewrite(in_a, folder / a, [](const std::string&, json&) { return true; });
    rewrite(in_b, folder / b, [](const std::string&, json&) { return true; });
    std::ofstream(folder / "model.safetensors.index.json") << json{{"metadata", json::object()}, {"weight_map", weight_map}}.dump();
  };
  json good = json::object();
  good[all[0]->name] = a;
  for (std::size_t i = 1; i < all.size(); ++i) good[all[i]->name] = b;
  auto open_error = [](const fs::path& folder) { return error_of([&] { eng::WeightFiles::open(folder); }); };
  {
    folio::test::TempDir dir;
    make(dir.path(), good, /*extra_in_a=*/true);
    const auto e = open_error(dir.path());
    BOOST_TEST(contains(e, "tensor stored twice"), e);
    BOOST_TEST(contains(e, all[1]->name), e);
    BOOST_TEST(contains(e, a), e);
    BOOST_TEST(contains(e, b), e);
  }
  {
    folio::test::TempDir dir;
    json wrong = good;
    wrong[all[1]->name] = a;  // it lives in b
    make(dir.path(), wrong, false);
    const auto e = open_error(dir.path());
    BOOST_TEST(contains(e, "the index puts tensor " + all[1]->name + " in " + a + ", which does not hold it"), e);
    BOOST_TEST(contains(e, "model.safetensors.index.json"), e);
  }
  struct Bad {
    const char* what;
    json weight_map;
    const char* expect;
  };
  json not_a_name = good;
  not_a_name[all[0]->name] = 3;
  json outside = good;
  outside[all[0]->name] = "../" + a;
  for (const auto& c : std::vector<Bad>{{"not an object", json::array({a, b}), "needs a \"weight_map\" object"},
                                        {"not a file name", not_a_name, "weight_map value is not a file name"},
                                        {"outside the folder", outside, "names a file outside the folder"}}) {
    BOOST_TEST_CONTEXT(c.what) {
      folio::test::TempDir dir;
      make(dir.path(), c.weight_map, false);
      const auto e = open_error(dir.path());
      BOOST_TEST(contains(e, c.expect), e);
      BOOST_TEST(contains(e, (dir.path() / "model.safetensors.index.json").string()), e);
    }
  }
  {
    folio::test::TempDir dir;
    std::ofstream(dir.path() / "model.safetensors.index.json") << "{\"weight_map\": ";
    const auto e = open_error(dir.path());
    BOOST_TEST(contains(e, "not a valid index"), e);
    BOOST_TEST(contains(e, "model.safetensors.index.json"), e);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(model_folder_and_configs)

BOOST_AUTO_TEST_CASE(missing_files_are_all_named_at_once) {
  folio::test::TempDir dir;
  fs::copy(checkpoint() / "config.json", dir.path() / "config.json");
  const auto e = error_of([&] { eng::open_model_folder(dir.path()); });
  for (const char* name : {"preprocessor_config.json", "tokenizer.json", "model.safetensors"})
    BOOST_TEST(contains(e, name), e);
  BOOST_TEST(!contains(e, "missing config.json"), e);
  BOOST_TEST(contains(error_of([&] { eng::open_model_folder(dir.path() / "nope"); }), "model folder not found"));
}

BOOST_AUTO_TEST_CASE(missing_keys_take_the_library_defaults) {
  // As the SmolVLM2 configs do: no vision sizes at all, no kv heads, no eps, no theta.
  json c = reference_config();
  c["vision_config"] = json::object();
  for (const char* k : {"num_key_value_heads", "rms_norm_eps", "rope_theta", "head_dim", "hidden_act"}) c["text_config"].erase(k);
  c["scale_factor"] = 7;  // 224 / 32 = 7 patches per side with the vision defaults
  folio::test::TempDir dir;
  std::ofstream(dir.path() / "config.json") << c.dump();
  const auto m = eng::load_model_config(dir.path() / "config.json");
  BOOST_TEST(m.vision.hidden_size == 1152);
  BOOST_TEST(m.vision.intermediate_size == 3072);
  BOOST_TEST(m.vision.num_layers == 12);
  BOOST_TEST(m.vision.num_heads == 16);
  BOOST_TEST(m.vision.image_size == 224);
  BOOST_TEST(m.vision.patch_size == 32);
  BOOST_TEST(m.vision.layer_norm_eps == 1e-6f);
  BOOST_TEST(m.text.num_kv_heads == m.text.num_heads);
  BOOST_TEST(m.text.head_dim == m.text.hidden_size / m.text.num_heads);
  BOOST_TEST(m.text.rms_norm_eps == 1e-6f);
  BOOST_TEST(m.text.rope_theta == 10000.0f);
  BOOST_TEST(m.tokens_per_tile() == 1);
  // And the values a checkpoint does give are read, not assumed.
  const auto ref = eng::load_model_config(checkpoint() / "config.json");
  const json r = reference_config();
  BOOST_TEST(ref.text.hidden_size == r["text_config"]["hidden_size"].get<int>());
  BOOST_TEST(ref.scale_factor == r["scale_factor"].get<int>());
  BOOST_TEST(ref.image_token_id == r["image_token_id"].get<int>());
}

BOOST_AUTO_TEST_CASE(siglip_so400m_geometry_loads) {
  // The 2.2B models: 384 px tiles, 14 px patches (27 per side, the last 6 pixels unused), scale 3.
  json c = reference_config();
  c["vision_config"]["image_size"] = 384;
  c["vision_config"]["patch_size"] = 14;
  c["scale_factor"] = 3;
  folio::test::TempDir dir;
  std::ofstream(dir.path() / "config.json") << c.dump();
  const auto m = eng::load_model_config(dir.path() / "config.json");
  BOOST_TEST(m.vision.patches_per_side() == 27);
  BOOST_TEST(m.tokens_per_tile() == 81);
}

BOOST_AUTO_TEST_CASE(unsupported_features_are_refused_by_name) {
  struct Case {
    const char* what;
    std::function<void(json&)> edit;
    const char* expect;
  };
  const std::vector<Case> cases = {
      {"model_type", [](json& c) { c["model_type"] = "llava"; }, "'llava' is not supported"},
      {"no model_type", [](json& c) { c.erase("model_type"); }, "model_type"},
      {"rope scaling", [](json& c) { c["text_config"]["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}}; }, "rope_scaling"},
      {"attention bias", [](json& c) { c["text_config"]["attention_bias"] = true; }, "attention_bias"},
      {"text act", [](json& c) { c["text_config"]["hidden_act"] = "gelu"; }, "'gelu' is not supported"},
      {"vision act", [](json& c) { c["vision_config"]["hidden_act"] = "relu"; }, "'relu' is not supported"},
      {"text model", [](json& c) { c["text_config"]["model_type"] = "mistral"; }, "'mistral' is not supported"},
      {"scale factor", [](json& c) { c["scale_factor"] = 5; }, "scale_factor"},
      {"kv heads", [](json& c) { c["text_config"]["num_key_value_heads"] = 4; }, "num_key_value_heads"},
      {"negative size", [](json& c) { c["text_config"]["hidden_size"] = -96; }, "hidden_size"},
      {"no image token", [](json& c) { c.erase("image_token_id"); }, "image_token_id"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.what) {
      json config = reference_config();
      c.edit(config);
      const auto e = config_error(config);
      BOOST_TEST(contains(e, c.expect), e);
      BOOST_TEST(contains(e, "config.json"), e);
    }
  }
}

BOOST_AUTO_TEST_CASE(generation_config_eos_as_int_and_as_list) {
  folio::test::TempDir dir;
  const auto f = dir.path() / "generation_config.json";
  auto load = [&](const json& j) {
    std::ofstream(f) << j.dump();
    return eng::load_generation_config(f);
  };
  auto g = load({{"bos_token_id", 1}, {"eos_token_id", 49279}, {"pad_token_id", 2}});
  BOOST_TEST(g.bos_token_id == 1);
  BOOST_TEST(g.pad_token_id == 2);
  BOOST_TEST((g.eos_token_ids == std::vector<int>{49279}));
  g = load({{"eos_token_id", {2, 49279}}});
  BOOST_TEST((g.eos_token_ids == std::vector<int>{2, 49279}));
  BOOST_TEST(g.bos_token_id == -1);  // absent: none
  BOOST_TEST(g.pad_token_id == -1);
  BOOST_TEST(load(json::object()).eos_token_ids.empty());
  // The reference checkpoint's file is read, not assumed.
  std::ifstream in(checkpoint() / "generation_config.json");
  const auto ref = json::parse(in);
  BOOST_TEST((eng::load_generation_config(checkpoint() / "generation_config.json").eos_token_ids ==
              std::vector<int>{ref["eos_token_id"].get<int>()}));
  for (const json& bad : {json{{"eos_token_id", "</s>"}}, json{{"eos_token_id", {2, "x"}}}, json{{"eos_token_id", 2.5}},
                          json{{"bos_token_id", "<s>"}}}) {
    BOOST_TEST_CONTEXT(bad.dump()) {
      std::ofstream(f) << bad.dump();
      const auto e = error_of([&] { eng::load_generation_config(f); });
      BOOST_TEST(contains(e, f.string()), e);
      BOOST_TEST(contains(e, bad.begin().key()), e);
      BOOST_TEST(contains(e, "token id"), e);
    }
  }
  std::ofstream(f) << "[1, 2]";
  BOOST_TEST(contains(error_of([&] { eng::load_generation_config(f); }), f.string()));
}

BOOST_AUTO_TEST_CASE(image_seq_len_must_match_the_config) {
  folio::test::TempDir dir;
  copy_configs(dir.path());
  fs::copy(checkpoint() / "model.safetensors", dir.path() / "model.safetensors");
  const auto per_tile = eng::load_model_config(checkpoint() / "config.json").tokens_per_tile();
  BOOST_TEST(eng::open_model_folder(dir.path()).image_seq_len == per_tile);
  const auto processor = dir.path() / "processor_config.json";
  fs::remove(processor);  // the copy keeps the reference's read-only mode
  std::ofstream(processor) << json{{"image_seq_len", per_tile + 1}}.dump();
  auto e = error_of([&] { eng::open_model_folder(dir.path()); });
  BOOST_TEST(contains(e, processor.string()), e);
  BOOST_TEST(contains(e, "image_seq_len"), e);
  BOOST_TEST(contains(e, "is " + std::to_string(per_tile + 1) + " but config.json implies " + std::to_string(per_tile)), e);
  std::ofstream(processor) << json{{"image_seq_len", "64"}}.dump();
  e = error_of([&] { eng::open_model_folder(dir.path()); });
  BOOST_TEST(contains(e, "must be an integer"), e);
  BOOST_TEST(contains(e, processor.string()), e);
}

BOOST_AUTO_TEST_CASE(tokenizer_config_is_typed_with_the_library_defaults) {
  // The reference file, against its own JSON.
  std::ifstream in(checkpoint() / "tokenizer_config.json");
  const auto ref = json::parse(in);
  const auto t = eng::load_tokenizer_config(checkpoint() / "tokenizer_config.json");
  BOOST_TEST(t.bos_token == ref["bos_token"].get<std::string>());
  BOOST_TEST(t.eos_token == ref["eos_token"].get<std::string>());
  BOOST_TEST(t.pad_token == ref["pad_token"].get<std::string>());
  BOOST_TEST(t.unk_token == ref["unk_token"].get<std::string>());
  BOOST_TEST_REQUIRE(t.model_max_length.has_value());
  BOOST_TEST(*t.model_max_length == ref["model_max_length"].get<std::int64_t>());
  BOOST_TEST(t.chat_template == ref["chat_template"].get<std::string>());
  BOOST_TEST(t.tokenizer_class == ref["tokenizer_class"].get<std::string>());
  BOOST_TEST(!t.add_bos_token);  // not in the file: GPT2Tokenizer's default
  BOOST_TEST(!t.add_eos_token);
  // The folder carries it, and the prompt uses its template when chat_template.json is absent.
  BOOST_TEST(eng::open_model_folder(checkpoint()).tokenizer.eos_token == t.eos_token);

  folio::test::TempDir dir;
  const auto f = dir.path() / "tokenizer_config.json";
  auto load = [&](const json& j) {
    std::ofstream(f) << j.dump();
    return eng::load_tokenizer_config(f);
  };
  // Missing keys: no special tokens, no length limit, no BOS/EOS added, no template.
  const auto d = load(json::object());
  BOOST_TEST(d.bos_token.empty());
  BOOST_TEST(d.eos_token.empty());
  BOOST_TEST(d.pad_token.empty());
  BOOST_TEST(d.unk_token.empty());
  BOOST_TEST(!d.model_max_length.has_value());
  BOOST_TEST(!d.add_bos_token);
  BOOST_TEST(!d.add_eos_token);
  BOOST_TEST(d.chat_template.empty());
  // AddedToken objects, flags, transformers' VERY_LARGE_INTEGER, named templates.
  const auto o = load(json::parse(R"({"bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": false},
      "eos_token": {"content": "</s>"}, "add_bos_token": true, "add_eos_token": true,
      "model_max_length": 1000000000000000019884624838656,
      "chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]})"));
  BOOST_TEST(o.bos_token == "<s>");
  BOOST_TEST(o.eos_token == "</s>");
  BOOST_TEST(o.add_bos_token);
  BOOST_TEST(o.add_eos_token);
  BOOST_TEST(!o.model_max_length.has_value());
  BOOST_TEST(o.chat_template == "D");
  struct Bad {
    json j;
    const char* key;
  };
  for (const auto& b : std::vector<Bad>{{{{"bos_token", 5}}, "bos_token"},
                                        {{{"eos_token", {{"lstrip", true}}}}, "eos_token"},
                                        {{{"add_bos_token", "yes"}}, "add_bos_token"},
                                        {{{"model_max_length", -3}}, "model_max_length"},
                                        {{{"model_max_length", "8192"}}, "model_max_length"},
                                        {{{"chat_template", 7}}, "chat_template"},
                                        {{{"chat_template", {{{"name", "tool_use"}, {"template", "T"}}}}}, "chat_template"}}) {
    BOOST_TEST_CONTEXT(b.j.dump()) {
      std::ofstream(f) << b.j.dump();
      const auto e = error_of([&] { eng::load_tokenizer_config(f); });
      BOOST_TEST(contains(e, f.string()), e);
      BOOST_TEST(contains(e, b.key), e);
    }
  }
}

BOOST_AUTO_TEST_CASE(tokenizer_config_template_and_bos_reach_the_prompt) {
  const auto tok = eng::text::Tokenizer::load(checkpoint() / "tokenizer.json");
  const auto config = eng::load_model_config(checkpoint() / "config.json");
  const eng::text::ImageLayout layout{1, 2, config.tokens_per_tile()};
  const auto reference = eng::text::PromptBuilder::load(checkpoint(), tok, config.image_token_id, eng::text::PromptStyle::Chat)
                             .build("What is the total?", layout);
  // Without chat_template.json the template comes from tokenizer_config.json: the same prompt.
  folio::test::TempDir dir;
  copy_configs(dir.path());
  fs::remove(dir.path() / "chat_template.json");
  const auto from_config = eng::text::PromptBuilder::load(dir.path(), tok, config.image_token_id, eng::text::PromptStyle::Chat)
                               .build("What is the total?", layout);
  BOOST_TEST(from_config.ids == reference.ids);
  // add_bos_token puts the BOS id first (transformers' tokenizer call does the same).
  std::ifstream in(checkpoint() / "tokenizer_config.json");
  auto tc = json::parse(in);
  tc["add_bos_token"] = true;
  fs::remove(dir.path() / "tokenizer_config.json");  // the copy keeps the reference's read-only mode
  std::ofstream(dir.path() / "tokenizer_config.json") << tc.dump();
  const auto with_bos = eng::text::PromptBuilder::load(dir.path(), tok, config.image_token_id, eng::text::PromptStyle::Chat)
                            .build("What is the total?", layout);
  BOOST_TEST_REQUIRE(with_bos.ids.size() == reference.ids.size() + 1);
  BOOST_TEST(with_bos.ids.front() == *tok.token_id(tc["bos_token"].get<std::string>()));
  BOOST_TEST(std::equal(reference.ids.begin(), reference.ids.end(), with_bos.ids.begin() + 1));
  BOOST_TEST(with_bos.prefix_length == reference.prefix_length + 1);
}

BOOST_AUTO_TEST_CASE(npy_round_trip) {
  folio::test::TempDir dir;
  const std::vector<float> f = {1.5f, -2.0f, 3.25f, 0.0f, 1e-30f, 7.0f};
  const std::vector<std::int64_t> i = {-1, 0, 1LL << 40};
  eng::write_npy(dir.path() / "f.npy", f, {2, 3});
  eng::write_npy(dir.path() / "i.npy", i, {3});
  const auto rf = eng::read_npy(dir.path() / "f.npy");
  BOOST_TEST(rf.dtype == "<f4");
  BOOST_TEST((rf.shape == std::vector<std::int64_t>{2, 3}));
  BOOST_TEST(rf.as_f32() == f);
  const auto ri = eng::read_npy(dir.path() / "i.npy");
  BOOST_TEST(ri.dtype == "<i8");
  BOOST_TEST(ri.as_i64() == i);
  // The header is padded so the data starts on a 64-byte boundary, as numpy writes it.
  BOOST_TEST((fs::file_size(dir.path() / "f.npy") - 6 * 4) % 64 == 0u);
  std::ofstream(dir.path() / "bad.npy") << "not numpy";
  BOOST_TEST(contains(error_of([&] { eng::read_npy(dir.path() / "bad.npy"); }), "bad.npy"));
}

BOOST_AUTO_TEST_CASE(npz_members_and_damage) {
  // The reference archive: every member decodes to the shape golden.json gives.
  const auto dir = folio::test::reference_dir() / "tiny-a" / "cases" / "receipt";
  std::ifstream in(dir / "golden.json");
  const auto golden = json::parse(in);
  const auto arrays = eng::read_npz(dir / "pixel_arrays.npz");
  BOOST_TEST(arrays.size() == 3u);
  for (const auto& [name, a] : arrays)
    BOOST_TEST((a.shape == golden["tensors"][name]["shape"].get<std::vector<std::int64_t>>()), name);
  // A flipped byte inside the first member's deflate data, and a truncated archive: named errors.
  folio::test::TempDir tmp;
  const auto f = tmp.path() / "damaged.npz";
  std::ifstream src(dir / "pixel_arrays.npz", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(src)), {});
  bytes[bytes.size() / 4] = static_cast<char>(bytes[bytes.size() / 4] ^ 0x5a);
  std::ofstream(f, std::ios::binary) << bytes;
  auto e = error_of([&] { eng::read_npz(f); });
  BOOST_TEST(contains(e, f.string()), e);
  BOOST_TEST(contains(e, "pixel_values_u8"), e);
  std::ofstream(f, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  e = error_of([&] { eng::read_npz(f); });
  BOOST_TEST(contains(e, f.string()), e);
  BOOST_TEST(contains(e, "end-of-directory"), e);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(inspect_and_tokenize_cli)

BOOST_AUTO_TEST_CASE(inspect_json_agrees_with_the_files) {
  const auto r = folio::test::run_command(folio::test::folio_bin() + " inspect --json " + checkpoint().string());
  BOOST_TEST_REQUIRE(r.status == 0, r.out);
  const auto j = json::parse(r.out);
  const auto weights = eng::WeightFiles::open(checkpoint());
  std::int64_t stored = 0;
  for (const auto* t : weights.all()) stored += t->numel();
  BOOST_TEST(j["parameters"]["total"].get<std::int64_t>() == stored);
  const auto& p = j["parameters"];
  BOOST_TEST(p["vision"].get<std::int64_t>() + p["connector"].get<std::int64_t>() + p["text"].get<std::int64_t>() +
                 p["lm_head"].get<std::int64_t>() ==
             stored);
  const auto config = eng::load_model_config(checkpoint() / "config.json");
  BOOST_TEST(j["tiles"]["tokens_per_tile"].get<int>() == config.tokens_per_tile());
  BOOST_TEST(j["vocabulary"]["model"].get<int>() == config.text.vocab_size);
  BOOST_TEST(j["special_tokens"]["image"].get<int>() == config.image_token_id);
  BOOST_TEST(j["memory_mb"]["int8"].get<double>() < j["memory_mb"]["bf16"].get<double>());
  // bf16 runs as fp32 where bf16 products are the slower (the inspecting process's own probe says which),
  // and needs fp32's memory then.
  if (j["memory"]["bf16"].contains("runs_as"))
    BOOST_TEST(j["memory_mb"]["bf16"].get<double>() == j["memory_mb"]["fp32"].get<double>());
  else
    BOOST_TEST(j["memory_mb"]["bf16"].get<double>() < j["memory_mb"]["fp32"].get<double>());
  BOOST_TEST(j["tokenizer_config"]["eos"] == eng::load_tokenizer_config(checkpoint() / "tokenizer_config.json").eos_token);

  const auto text = folio::test::run_command(folio::test::folio_bin() + " inspect " + checkpoint().string());
  BOOST_TEST(text.status == 0);
  BOOST_TEST(contains(text.out, "tokens per tile"));
  for (const char* part : {"int8:", "bf16:", "fp32:", "linear weights, int8", "int8 per-channel scales and column sums",
                           "token embeddings, bf16", "KV cache", "activations of one page"})
    BOOST_TEST(contains(text.out, part), part);
  const auto bad = folio::test::run_command(folio::test::folio_bin() + " inspect /nonexistent-folder 2>&1");
  BOOST_TEST(bad.status != 0);
  BOOST_TEST(contains(bad.out, "/nonexistent-folder"));
}

// The memory figures of `folio inspect`: the parts add up, the weights are what the loaded layers hold,
// the KV cache follows the context length, and int8 < bf16 < fp32.
BOOST_AUTO_TEST_CASE(inspect_memory_adds_up_and_matches_the_loaded_layers) {
  const auto r = folio::test::run_command(folio::test::folio_bin() + " inspect --json " + checkpoint().string());
  BOOST_TEST_REQUIRE(r.status == 0, r.out);
  const auto mem = json::parse(r.out)["memory"];
  const auto config = eng::load_model_config(checkpoint() / "config.json");
  BOOST_TEST(mem["context_tokens"].get<int>() == config.text.max_position_embeddings);
  const std::uint64_t kv = std::uint64_t(config.text.num_layers) * 2 * config.text.num_kv_heads * config.text.head_dim *
                           mem["context_tokens"].get<std::uint64_t>() * 4;
  const auto weights = eng::WeightFiles::open(checkpoint());
  std::map<std::string, std::uint64_t> total;
  for (const char* p : {"int8", "bf16", "fp32"}) {
    BOOST_TEST_CONTEXT(p) {
      const auto& m = mem[p];
      std::uint64_t sum = 0, biases = 0, linear = 0;
      for (const auto& w : m["weights"]) {
        sum += w["bytes"].get<std::uint64_t>();
        if (w["name"] == "biases") biases = w["bytes"].get<std::uint64_t>();
        if (w["name"] == "linear_weights") linear = w["bytes"].get<std::uint64_t>();
      }
      BOOST_TEST(sum == m["weights_bytes"].get<std::uint64_t>());
      BOOST_TEST(m["kv_cache"]["bytes"].get<std::uint64_t>() == kv);
      BOOST_TEST(m["page_activations"]["bytes"].get<std::uint64_t>() > 0u);
      total[p] = m["total_bytes"].get<std::uint64_t>();
      BOOST_TEST(total[p] == sum + kv + m["page_activations"]["bytes"].get<std::uint64_t>());

      // The layers, loaded at the precision this one runs in, report what they hold (biases aside, which
      // they do not count). bf16 says when it runs as fp32 (by the inspecting process's own probe).
      const auto precision = eng::parse_precision(m.contains("runs_as") ? m["runs_as"].get<std::string>() : p);
      BOOST_TEST((!m.contains("runs_as") || std::string(p) == "bf16"));
      const eng::VisionEncoder vision(config.vision, weights, precision);
      const eng::Connector connector(config, weights, precision);
      const eng::TextDecoder text(config.text, weights, precision);
      const std::uint64_t held = vision.weight_bytes() + connector.weight_bytes() + text.weight_bytes();
      const std::uint64_t expect = sum - biases;
      if (precision == folio::engine::kernels::Precision::Int8) {
        // An int8 layer keeps one weight copy per layout its row-count buckets need: one with VNNI, a
        // second (AMX tiles, for prefill) on CPUs with AMX, which the estimate does not count.
        BOOST_TEST(held >= expect);
        BOOST_TEST(held - expect <= linear);
      } else {
        BOOST_TEST(held == expect);
      }
    }
  }
  BOOST_TEST(total["int8"] < total["bf16"]);
  BOOST_TEST(mem["int8"]["weights_bytes"].get<std::uint64_t>() < mem["bf16"]["weights_bytes"].get<std::uint64_t>());
  if (!mem["bf16"].contains("runs_as")) {
    BOOST_TEST(total["bf16"] < total["fp32"]);
    BOOST_TEST(mem["bf16"]["weights_bytes"].get<std::uint64_t>() < mem["fp32"]["weights_bytes"].get<std::uint64_t>());
  } else {
    BOOST_TEST(total["bf16"] == total["fp32"]);
  }

  // A shorter context shrinks only the KV cache, in proportion.
  const auto shorter = folio::test::run_command(folio::test::folio_bin() + " inspect --json --context 1024 " + checkpoint().string());
  BOOST_TEST_REQUIRE(shorter.status == 0, shorter.out);
  const auto m2 = json::parse(shorter.out)["memory"]["int8"];
  BOOST_TEST(m2["kv_cache"]["bytes"].get<std::uint64_t>() * mem["context_tokens"].get<std::uint64_t>() == kv * 1024);
  BOOST_TEST(m2["weights_bytes"] == mem["int8"]["weights_bytes"]);
  BOOST_TEST(m2["page_activations"] == mem["int8"]["page_activations"]);
  // The page is the largest one the tiling makes, with a prompt that holds all of its image tokens.
  BOOST_TEST(mem["page_prompt_tokens"].get<int>() > mem["page_frames"].get<int>() * config.tokens_per_tile());
}

BOOST_AUTO_TEST_CASE(tokenize_json_and_file) {
  const auto tok = eng::text::Tokenizer::load(checkpoint() / "tokenizer.json");
  folio::test::TempDir dir;
  const std::string text = "Total: 1,234.50 EUR <image> naïve";
  std::ofstream(dir.path() / "t.txt", std::ios::binary) << text;
  const auto bin = folio::test::folio_bin() + " tokenize --json " + checkpoint().string();
  const auto a = folio::test::run_command(bin + " --file " + (dir.path() / "t.txt").string());
  BOOST_TEST_REQUIRE(a.status == 0, a.out);
  const auto j = json::parse(a.out);
  BOOST_TEST(j["ids"].get<std::vector<int>>() == tok.encode_full(text).ids);
  BOOST_TEST(j["pieces"].size() == j["ids"].size());
  const auto b = folio::test::run_command(bin + " 'Total: 1,234.50 EUR <image> naïve'");
  BOOST_TEST(json::parse(b.out)["ids"] == j["ids"]);
  const auto missing = folio::test::run_command(bin + " --file /nonexistent.txt 2>&1");
  BOOST_TEST(missing.status == 2);
  BOOST_TEST(contains(missing.out, "/nonexistent.txt"));
}

BOOST_AUTO_TEST_SUITE_END()
