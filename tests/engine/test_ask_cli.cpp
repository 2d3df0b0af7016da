// `folio ask` end to end: from the reference PNG through ingestion, tiling, tokenizer, prompt and model
// to transformers' tokens, and --dump files equal to the golden tensors.
#include <boost/test/unit_test.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/io/npy.hpp"
#include "support/paths.hpp"

namespace fs = std::filesystem;

namespace {

std::pair<int, std::string> run(const std::string& cmd) {
  auto r = folio::test::run_command(cmd);
  return {r.status, r.out};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ask_cli)

BOOST_AUTO_TEST_CASE(golden_cases_end_to_end) {
  const std::string bin = folio::test::folio_bin();
  if (!fs::exists(bin)) {
    BOOST_TEST_MESSAGE("folio binary not built; skipping");
    return;
  }
  const fs::path ref = folio::test::reference_dir() / "tiny-a";
  for (const auto& e : fs::directory_iterator(ref / "cases")) {
    if (!fs::exists(e.path() / "golden.json")) continue;
    BOOST_TEST_CONTEXT(e.path().filename().string()) {
      std::ifstream in(e.path() / "golden.json");
      const auto g = nlohmann::json::parse(in);
      std::string question;
      for (const auto& item : g["prompt"]["messages"][0]["content"])
        if (item["type"] == "text") question = item["text"].get<std::string>();
      folio::test::TempDir dump;
      const auto [rc, out] = run(bin + " ask --model " + (ref / "checkpoint").string() + " --image " +
                                 (ref / "images" / g["image"]["file"].get<std::string>()).string() + " --question '" +
                                 question + "' --max-new-tokens 16 --ignore-eos --precision fp32 --json --dump " +
                                 dump.path().string() + " 2>/dev/null");
      BOOST_TEST_REQUIRE(rc == 0);
      const auto j = nlohmann::json::parse(out);
      BOOST_TEST((j["token_ids"].get<std::vector<int>>() == g["outputs"]["generated_ids"].get<std::vector<int>>()));
      BOOST_TEST(j["answer"].get<std::string>() == g["outputs"]["generated_text_rust_decode_skip_special"].get<std::string>());
      const auto ids = folio::engine::read_npy(dump.path() / "input_ids.npy").as_i64();
      BOOST_TEST((ids == folio::engine::read_npy(e.path() / "input_ids.npy").as_i64()));
      const auto logits = folio::engine::read_npy(dump.path() / "logits_last.npy").as_f32();
      const auto gold = folio::engine::read_npy(e.path() / "logits_last.npy").as_f32();
      BOOST_TEST_REQUIRE(logits.size() == gold.size());
      double worst = 0;
      for (std::size_t i = 0; i < gold.size(); ++i) worst = std::max(worst, std::fabs(double(logits[i]) - gold[i]));
      BOOST_TEST(worst < 1e-3);
      const auto pv = folio::engine::read_npy(dump.path() / "pixel_values.npy");
      BOOST_TEST(pv.shape[0] == g["processor"]["num_tiles"].get<std::int64_t>());
      const auto feats = folio::engine::read_npy(dump.path() / "image_features.npy");
      BOOST_TEST(feats.shape.size() == 2u);
    }
  }
}

BOOST_AUTO_TEST_CASE(several_questions_and_errors) {
  const std::string bin = folio::test::folio_bin();
  if (!fs::exists(bin)) return;
  const fs::path ref = folio::test::reference_dir() / "tiny-a";
  const std::string base = bin + " ask --model " + (ref / "checkpoint").string() + " --image " +
                           (ref / "images" / "receipt.png").string() + " --precision fp32 --max-new-tokens 4 ";
  const auto [rc, out] = run(base + "--question 'What is the total?' --question 'Who sold it?' --json 2>/dev/null");
  BOOST_TEST_REQUIRE(rc == 0);
  const auto j = nlohmann::json::parse(out);
  BOOST_TEST(j["answers"].size() == 2u);
  // A model folder that is not there: exit code 3.
  BOOST_TEST(run(bin + " ask --model /nonexistent --image " + (ref / "images" / "receipt.png").string() +
                 " --question x 2>/dev/null").first == 3);
  // A page beyond the document: usage error.
  BOOST_TEST(run(base + "--question x --page 5 2>/dev/null").first == 2);
}

BOOST_AUTO_TEST_SUITE_END()
