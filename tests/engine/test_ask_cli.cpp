// `folio ask` end to end: from the reference PNG through ingestion, tiling, tokenizer, prompt and model
// to transformers' tokens, and --dump files equal to the golden tensors within the manifest's tolerances;
// PDFs and pages of multi-page documents; bad model input as a clear error with the documented exit code.
// And the CLI's own usage: --help, --version and every subcommand's --help.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "engine/io/npy.hpp"
#include "engine/io/safetensors.hpp"
#include "support/paths.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::pair<int, std::string> run(const std::string& cmd) {
  auto r = folio::test::run_command(cmd);
  return {r.status, r.out};
}

fs::path tiny_a() { return folio::test::reference_dir() / "tiny-a"; }

json read_json(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct Tolerance {
  double atol = 0;
  double rtol = 0;
};

// The manifest's recommended fp32 tolerance for `tensor`: its keys list tensors ("a / b / c"), its
// values read "atol X, rtol Y (...)".
Tolerance tolerance(const json& golden, const std::string& tensor) {
  for (const auto& [key, value] : golden.at("recommended_tolerances_fp32").items()) {
    std::string names = " / " + key + " / ";
    if (names.find(" / " + tensor + " / ") == std::string::npos) continue;
    const std::string text = value.get<std::string>();
    Tolerance t;
    std::smatch m;
    if (std::regex_search(text, m, std::regex(R"(atol ([0-9.eE+-]+))"))) t.atol = std::stod(m[1]);
    if (std::regex_search(text, m, std::regex(R"(rtol ([0-9.eE+-]+))"))) t.rtol = std::stod(m[1]);
    BOOST_TEST_REQUIRE((t.atol > 0 || t.rtol > 0), "no atol/rtol for " << tensor << " in '" << text << "'");
    return t;
  }
  BOOST_FAIL("the manifest gives no tolerance for " << tensor);
  return {};
}

// |a - b| <= atol + rtol |b| elementwise, the worst offender reported.
void check_close(const std::vector<float>& a, const std::vector<float>& b, Tolerance t, const std::string& what) {
  BOOST_TEST_REQUIRE(a.size() == b.size(), what << ": " << a.size() << " values vs " << b.size());
  bool ok = true;
  double worst = 0;
  std::size_t at = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double err = std::fabs(double(a[i]) - b[i]);
    if (!(err <= t.atol + t.rtol * std::fabs(b[i]))) ok = false;
    if (!(err <= worst)) {
      worst = err;
      at = i;
    }
  }
  BOOST_TEST(ok, what << ": max |diff| " << worst << " at " << at << " (" << a[at] << " vs " << b[at] << ")");
}

// The golden pixel values: the u8 tiles through rescale and normalise with the processor's own settings.
std::vector<float> golden_pixel_values(const json& g, const folio::engine::SafetensorsFile& tensors) {
  const auto& pc = g.at("processor").at("image_processor_config");
  const double rescale = pc.at("rescale_factor").get<double>();
  const auto mean = pc.at("image_mean").get<std::vector<float>>(), std = pc.at("image_std").get<std::vector<float>>();
  const auto& t = tensors.at("pixel_values_u8");
  const auto* p = reinterpret_cast<const std::uint8_t*>(t.bytes.data());
  const std::size_t plane = static_cast<std::size_t>(t.shape[2] * t.shape[3]);
  std::vector<float> out(t.numel());
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::size_t c = (i / plane) % 3;
    out[i] = (static_cast<float>(p[i] * rescale) - mean[c]) / std[c];
  }
  return out;
}

std::string ask(const fs::path& model, const fs::path& image, const std::string& extra) {
  return folio::test::folio_bin() + " ask --model " + model.string() + " --image " + image.string() + " " + extra;
}

// A copy of tiny-a's checkpoint (links to its files) with one JSON file changed by `edit`.
struct EditedCheckpoint {
  folio::test::TempDir dir{"folio-ckpt"};
  EditedCheckpoint(const std::string& file, const std::function<void(json&)>& edit) {
    for (const auto& e : fs::directory_iterator(tiny_a() / "checkpoint"))
      if (e.path().filename() != file) fs::create_symlink(fs::absolute(e.path()), dir.path() / e.path().filename());
    json j = read_json(tiny_a() / "checkpoint" / file);
    edit(j);
    std::ofstream(dir.path() / file) << j.dump(2);
  }
  const fs::path& path() const { return dir.path(); }
};

// The names listed under "Subcommands:" in a --help text (CLI11: two-space indent, name, description).
std::vector<std::string> subcommands_of(const std::string& help) {
  std::vector<std::string> out;
  const auto at = help.find("\nSubcommands:\n");
  if (at == std::string::npos) return out;
  std::istringstream lines(help.substr(at + 14));
  for (std::string line; std::getline(lines, line) && !line.empty();)
    if (line.size() > 2 && line.compare(0, 2, "  ") == 0 && line[2] != ' ') out.push_back(line.substr(2, line.find(' ', 2) - 2));
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ask_cli)

BOOST_AUTO_TEST_CASE(golden_cases_end_to_end) {
  const std::string bin = folio::test::folio_bin();
  if (!fs::exists(bin)) {
    BOOST_TEST_MESSAGE("folio binary not built; skipping");
    return;
  }
  const fs::path ref = tiny_a();
  for (const auto& e : fs::directory_iterator(ref / "cases")) {
    if (!fs::exists(e.path() / "golden.json")) continue;
    BOOST_TEST_CONTEXT(e.path().filename().string()) {
      const json g = read_json(e.path() / "golden.json");
      const folio::engine::SafetensorsFile tensors(e.path() / "golden.safetensors");
      std::string question;
      for (const auto& item : g["prompt"]["messages"][0]["content"])
        if (item["type"] == "text") question = item["text"].get<std::string>();
      folio::test::TempDir dump;
      const auto [rc, out] = run(ask(ref / "checkpoint", ref / "images" / g["image"]["file"].get<std::string>(),
                                     "--question '" + question +
                                         "' --max-new-tokens 16 --ignore-eos --precision fp32 --json --dump " +
                                         dump.path().string() + " 2>/dev/null"));
      BOOST_TEST_REQUIRE(rc == 0);

      // --json: the answer, its tokens with their log-probabilities, and the timings.
      const auto j = json::parse(out);
      BOOST_TEST_REQUIRE(j.at("answer").is_string());
      BOOST_TEST(j["answer"].get<std::string>() == g["outputs"]["generated_text_rust_decode_skip_special"].get<std::string>());
      BOOST_TEST((j.at("token_ids").get<std::vector<int>>() == g["outputs"]["generated_ids"].get<std::vector<int>>()));
      const auto& lps = j.at("token_logprobs");
      BOOST_TEST_REQUIRE(lps.is_array());
      BOOST_TEST(lps.size() == j["token_ids"].size());
      for (const auto& lp : lps) {
        BOOST_TEST_REQUIRE(lp.is_number());
        BOOST_TEST(std::isfinite(lp.get<double>()));
        BOOST_TEST(lp.get<double>() <= 0.0);
      }
      const auto& timings = j.at("timings_ms");
      BOOST_TEST_REQUIRE(timings.is_object());
      BOOST_TEST(!timings.empty());
      for (const auto& [name, ms] : timings.items()) {
        BOOST_TEST_CONTEXT(name) {
          BOOST_TEST_REQUIRE(ms.is_number());
          BOOST_TEST(ms.get<double>() >= 0.0);
        }
      }

      // --dump: each file with its documented dtype and shape, equal to the golden tensor.
      const int frames = g["processor"]["num_tiles"].get<int>();
      const auto& u8 = tensors.at("pixel_values_u8");
      const auto pv = folio::engine::read_npy(dump.path() / "pixel_values.npy");
      BOOST_TEST(pv.dtype == "<f4");
      BOOST_TEST((pv.shape == std::vector<std::int64_t>{frames, 3, u8.shape[2], u8.shape[3]}));
      check_close(pv.as_f32(), golden_pixel_values(g, tensors), tolerance(g, "pixel_values_tile0"), "pixel_values");

      const auto ids = folio::engine::read_npy(dump.path() / "input_ids.npy");
      BOOST_TEST(ids.dtype == "<i8");
      BOOST_TEST((ids.shape == std::vector<std::int64_t>{g["prompt"]["num_tokens"].get<std::int64_t>()}));
      BOOST_TEST((ids.as_i64() == folio::engine::read_npy(e.path() / "input_ids.npy").as_i64()));

      const auto& connector = tensors.at("connector_out");  // [frames, tokens per tile, text hidden]
      const auto feats = folio::engine::read_npy(dump.path() / "image_features.npy");
      BOOST_TEST(feats.dtype == "<f4");
      BOOST_TEST((feats.shape ==
                  std::vector<std::int64_t>{frames * g["processor"]["image_seq_len"].get<std::int64_t>(), connector.shape[2]}));
      check_close(feats.as_f32(), folio::engine::to_f32(connector), tolerance(g, "connector_out"), "image_features");

      const auto logits = folio::engine::read_npy(dump.path() / "logits_last.npy");
      BOOST_TEST(logits.dtype == "<f4");
      BOOST_TEST((logits.shape == tensors.at("logits_last").shape));
      check_close(logits.as_f32(), folio::engine::to_f32(tensors.at("logits_last")), tolerance(g, "logits_last"),
                  "logits_last");
    }
  }
}

BOOST_AUTO_TEST_CASE(several_questions_and_errors) {
  const std::string bin = folio::test::folio_bin();
  if (!fs::exists(bin)) return;
  const fs::path ref = tiny_a();
  const std::string base = bin + " ask --model " + (ref / "checkpoint").string() + " --image " +
                           (ref / "images" / "receipt.png").string() + " --precision fp32 --max-new-tokens 4 ";
  const auto [rc, out] = run(base + "--question 'What is the total?' --question 'Who sold it?' --json 2>/dev/null");
  BOOST_TEST_REQUIRE(rc == 0);
  const auto j = json::parse(out);
  BOOST_TEST(j["answers"].size() == 2u);
  // A model folder that is not there: exit code 3.
  BOOST_TEST(run(bin + " ask --model /nonexistent --image " + (ref / "images" / "receipt.png").string() +
                 " --question x 2>/dev/null").first == 3);
  // A page beyond the document: usage error.
  BOOST_TEST(run(base + "--question x --page 5 2>/dev/null").first == 2);
}

// A PDF is asked about its first page: the same pixels, prompt and answer as that page rendered by
// `folio pages` (with the model's longest edge) and asked about as a PNG.
BOOST_AUTO_TEST_CASE(a_pdf_is_asked_about_its_first_page) {
  if (!fs::exists(folio::test::folio_bin())) return;
  const fs::path model = tiny_a() / "checkpoint", pdf = folio::test::samples_dir() / "invoice.pdf";
  folio::test::TempDir pages, from_pdf, from_png;
  BOOST_TEST_REQUIRE(run(folio::test::folio_bin() + " pages " + pdf.string() + " --pages 1 --model " + model.string() +
                         " --out " + pages.path().string() + " >/dev/null 2>&1")
                         .first == 0);
  const std::string q = "--question 'What is the invoice number?' --precision fp32 --max-new-tokens 3 --ignore-eos --json ";
  const auto [rc_pdf, out_pdf] = run(ask(model, pdf, q + "--dump " + from_pdf.path().string() + " 2>/dev/null"));
  const auto [rc_png, out_png] =
      run(ask(model, pages.path() / "page-0001.png", q + "--dump " + from_png.path().string() + " 2>/dev/null"));
  BOOST_TEST_REQUIRE(rc_pdf == 0);
  BOOST_TEST_REQUIRE(rc_png == 0);
  const auto pv = folio::engine::read_npy(from_pdf.path() / "pixel_values.npy");
  BOOST_TEST(pv.shape.size() == 4u);
  BOOST_TEST(pv.shape[0] > 1);  // an A4 page is split into tiles
  BOOST_TEST(pv.bytes == folio::engine::read_npy(from_png.path() / "pixel_values.npy").bytes);
  BOOST_TEST(read_bytes(from_pdf.path() / "input_ids.npy") == read_bytes(from_png.path() / "input_ids.npy"));
  BOOST_TEST((json::parse(out_pdf)["token_ids"] == json::parse(out_png)["token_ids"]));
  BOOST_TEST(json::parse(out_pdf)["token_ids"].size() == 3u);
}

// --page K of a multi-page TIFF is that page (as `folio pages` decodes it), not the first; a page
// beyond the document is a usage error naming the file and the page count.
BOOST_AUTO_TEST_CASE(page_k_of_a_multi_page_document) {
  if (!fs::exists(folio::test::folio_bin())) return;
  const fs::path model = tiny_a() / "checkpoint", tif = folio::test::samples_dir() / "scan-skewed.tif";
  folio::test::TempDir pages, page1, page2, png2;
  BOOST_TEST_REQUIRE(run(folio::test::folio_bin() + " pages " + tif.string() + " --pages 2 --model " + model.string() +
                         " --out " + pages.path().string() + " >/dev/null 2>&1")
                         .first == 0);
  const std::string q = "--question 'What is the total?' --precision fp32 --max-new-tokens 2 --ignore-eos ";
  BOOST_TEST_REQUIRE(run(ask(model, tif, q + "--dump " + page1.path().string() + " >/dev/null 2>&1")).first == 0);
  BOOST_TEST_REQUIRE(run(ask(model, tif, q + "--page 2 --dump " + page2.path().string() + " >/dev/null 2>&1")).first == 0);
  BOOST_TEST_REQUIRE(
      run(ask(model, pages.path() / "page-0002.png", q + "--dump " + png2.path().string() + " >/dev/null 2>&1")).first == 0);
  const auto second = folio::engine::read_npy(page2.path() / "pixel_values.npy");
  BOOST_TEST(second.bytes == folio::engine::read_npy(png2.path() / "pixel_values.npy").bytes);
  BOOST_TEST(second.bytes != folio::engine::read_npy(page1.path() / "pixel_values.npy").bytes);

  const auto [rc, err] = run(ask(model, tif, q + "--page 3 2>&1 >/dev/null"));
  BOOST_TEST(rc == 2);
  BOOST_TEST(err.find(tif.string()) != std::string::npos, err);
  BOOST_TEST(err.find("outside the document's 2 pages") != std::string::npos, err);
}

// Bad model input of every kind issue 4 names, through `folio ask`: a clear message, and exit 3 when
// the checkpoint itself is at fault, 2 when the request does not fit it (docs/exit-codes.md).
BOOST_AUTO_TEST_CASE(bad_model_input_is_a_clear_error_with_its_exit_code) {
  if (!fs::exists(folio::test::folio_bin())) return;
  const fs::path image = tiny_a() / "images" / "receipt.png";  // 1 x 2 tiles + global: 192 image tokens
  const std::string q = "--precision fp32 --max-new-tokens 2 ";
  auto expect = [&](const fs::path& model, const std::string& args, int code, std::vector<std::string> parts) {
    const auto [rc, err] = run(ask(model, image, q + args + " 2>&1 >/dev/null"));
    BOOST_TEST(rc == code, err);
    for (const auto& p : parts) BOOST_TEST(err.find(p) != std::string::npos, "'" << p << "' not in: " << err);
  };

  // Weights of other shapes than the config implies: the tensor, its file and both shapes named.
  const EditedCheckpoint narrow("config.json", [](json& j) { j["text_config"]["intermediate_size"] = 128; });
  expect(narrow.path(), "--question x", 3,
         {"model.safetensors", "model.text_model.layers.0.mlp.gate_proj.weight", "has shape [256, 96]",
          "config implies [128, 96]"});
  // A processor whose image_seq_len disagrees with the vision geometry and scale factor.
  const EditedCheckpoint seq("processor_config.json", [](json& j) { j["image_seq_len"] = 81; });
  expect(seq.path(), "--question x", 3, {"processor_config.json", "image_seq_len", "is 81"});

  // Tiles of another size than the vision encoder's image_size.
  const EditedCheckpoint small_tiles("preprocessor_config.json", [](json& j) { j["max_image_size"]["longest_edge"] = 256; });
  expect(small_tiles.path(), "--question x", 3, {"preprocessor tiles are 256 px but the vision encoder takes 512 px"});

  // Image-token count mismatches: a chat template with no <image>, a question holding one.
  const EditedCheckpoint no_image("chat_template.json", [](json& j) {
    std::string t = j["chat_template"].get<std::string>();
    for (std::size_t at; (at = t.find("<image>")) != std::string::npos;) t.replace(at, 7, "");
    j["chat_template"] = t;
  });
  expect(no_image.path(), "--question x", 3, {"exactly one <image>"});
  expect(tiny_a() / "checkpoint", "--question 'What is <image>?'", 2,
         {image.string(), "--question 'What is <image>?'", "the question holds 1 image token(s) (<image>)"});

  // Prompts longer than the model's positions: one a shorter question fixes, one the page alone fills.
  const EditedCheckpoint short_context("config.json", [](json& j) { j["text_config"]["max_position_embeddings"] = 240; });
  const auto [rc, out] = run(ask(short_context.path(), image, q + "--question 'What is the total?' 2>/dev/null"));
  BOOST_TEST(rc == 0);  // 217 tokens fit
  std::string long_question;
  for (int k = 0; k < 10; ++k) long_question += "What is the total amount on the receipt? ";
  expect(short_context.path(), "--question '" + long_question + "'", 2,
         {image.string(), "reads at most 240 positions", "shorten the question"});
  const EditedCheckpoint tiny_context("config.json", [](json& j) { j["text_config"]["max_position_embeddings"] = 150; });
  expect(tiny_context.path(), "--question x", 2, {"192 of them", "reads at most 150 positions", "the page alone does not fit"});
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(cli_usage)

// `folio --help`, `folio --version` and `--help` of every subcommand (nested ones too) exit 0 and print
// their usage; the subcommands are read from the help text, so a new one is covered without an edit.
BOOST_AUTO_TEST_CASE(help_and_version_exit_0_with_usage) {
  const std::string bin = folio::test::folio_bin();
  const auto [rc, help] = run(bin + " --help 2>&1");
  BOOST_TEST(rc == 0);
  BOOST_TEST(help.find("Usage: ") != std::string::npos, help);
  const auto top = subcommands_of(help);
  for (const char* documented : {"pages", "inspect", "tokenize", "ask", "run", "schema"})
    BOOST_TEST((std::find(top.begin(), top.end(), documented) != top.end()), documented << " missing from --help");

  const auto [vrc, version] = run(bin + " --version 2>&1");
  BOOST_TEST(vrc == 0);
  BOOST_TEST(version.rfind("folio ", 0) == 0u, version);
  BOOST_TEST(version.find_first_of("0123456789") != std::string::npos, version);

  std::vector<std::string> pending(top.begin(), top.end());
  std::size_t checked = 0;
  while (!pending.empty()) {
    const std::string cmd = pending.back();
    pending.pop_back();
    BOOST_TEST_CONTEXT("folio " << cmd << " --help") {
      const auto [src, out] = run(bin + " " + cmd + " --help 2>&1");
      BOOST_TEST(src == 0, out);
      BOOST_TEST(out.find("Usage: ") != std::string::npos, out);
      BOOST_TEST(out.find(" " + cmd + " ") != std::string::npos, out);  // the usage line names the subcommand
      for (const auto& sub : subcommands_of(out)) pending.push_back(cmd + " " + sub);
      ++checked;
    }
  }
  BOOST_TEST(checked > top.size());  // nested subcommands (schema check) were found and checked too

  // No subcommand is a usage error (exit 2) that says what is missing.
  const auto [nrc, none] = run(bin + " 2>&1");
  BOOST_TEST(nrc == 2);
  BOOST_TEST(none.find("subcommand is required") != std::string::npos, none);
}

BOOST_AUTO_TEST_SUITE_END()
