// `folio ask` end to end: from the reference PNG through ingestion, tiling, tokenizer, prompt and model
// to transformers' tokens, and --dump files equal to the golden tensors. And the CLI's own usage:
// --help, --version and every subcommand's --help.
#include <boost/test/unit_test.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/io/npy.hpp"
#include "support/paths.hpp"

namespace fs = std::filesystem;

namespace {

std::pair<int, std::string> run(const std::string& cmd) {
  auto r = folio::test::run_command(cmd);
  return {r.status, r.out};
}

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
