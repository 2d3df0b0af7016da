// The tokenizer against HF tokenizers' own output (../shared/reference/tokenizer/cases.json), and the
// second SmolVLM tokenizer family (SmolVLM-Instruct v1: row/column tags are plain text) built from it.
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "engine/text/tokenizer.hpp"
#include "support/paths.hpp"

namespace fs = std::filesystem;
using folio::engine::text::Tokenizer;

namespace {

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

fs::path tokenizer_dir() { return folio::test::reference_dir() / "tokenizer"; }

}  // namespace

BOOST_AUTO_TEST_SUITE(tokenizer)

BOOST_AUTO_TEST_CASE(every_reference_case_matches) {
  const Tokenizer tok = Tokenizer::load(tokenizer_dir() / "tokenizer.json");
  const auto cases = read_json(tokenizer_dir() / "cases.json");
  BOOST_TEST(tok.vocab_size() == cases["vocab_size_total"].get<int>());
  int n = 0;
  for (const auto& c : cases["cases"]) {
    BOOST_TEST_CONTEXT(c["name"].get<std::string>()) {
      const auto enc = tok.encode_full(c["text"].get<std::string>());
      BOOST_TEST((enc.ids == c["ids"].get<std::vector<int>>()));
      BOOST_TEST((enc.pieces == c["tokens"].get<std::vector<std::string>>()));
      std::vector<std::pair<std::size_t, std::size_t>> offsets;
      for (const auto& o : c["offsets"]) offsets.emplace_back(o[0].get<std::size_t>(), o[1].get<std::size_t>());
      BOOST_TEST((enc.offsets == offsets));
      BOOST_TEST(tok.decode(enc.ids, false) == c["decoded"].get<std::string>());
      BOOST_TEST(tok.decode(enc.ids, true) == c["decoded_skip_special"].get<std::string>());
      ++n;
    }
  }
  BOOST_TEST(n == static_cast<int>(cases["cases"].size()));
  for (const auto& c : cases["decode_cases"]) {
    const auto ids = c["ids"].get<std::vector<int>>();
    BOOST_TEST(tok.decode(ids, false) == c["decoded"].get<std::string>());
    BOOST_TEST(tok.decode(ids, true) == c["decoded_skip_special"].get<std::string>());
  }
  for (const auto& [name, id] : cases["special_token_ids"].items()) {
    BOOST_TEST(tok.token_id(name).value_or(-1) == id.get<int>());
    BOOST_TEST(tok.is_special(id.get<int>()));
  }
}

// SmolVLM-Instruct (v1) declares only <fake_token_around_image>, <image> and <end_of_utterance>:
// <row_1_col_1> and <global-img> are then ordinary text, split by BPE.
BOOST_AUTO_TEST_CASE(v1_family_tokenizes_tags_as_text) {
  auto j = read_json(tokenizer_dir() / "tokenizer.json");
  nlohmann::json kept = nlohmann::json::array();
  for (const auto& t : j["added_tokens"]) {
    const auto content = t["content"].get<std::string>();
    if (content.find("<row_") == 0 || content == "<global-img>" || content.find("<|reserved_special_token_") == 0) continue;
    kept.push_back(t);
  }
  j["added_tokens"] = kept;
  folio::test::TempDir dir;
  std::ofstream(dir.path() / "tokenizer.json") << j.dump();
  const Tokenizer v1 = Tokenizer::load(dir.path() / "tokenizer.json");
  const Tokenizer v2 = Tokenizer::load(tokenizer_dir() / "tokenizer.json");

  const std::string tag = "<row_1_col_1>";
  BOOST_TEST(v2.encode(tag).size() == 1u);
  const auto ids = v1.encode(tag);
  BOOST_TEST(ids.size() > 1u);
  BOOST_TEST(v1.decode(ids) == tag);
  for (int id : ids) BOOST_TEST(!v1.is_added(id));
  // Digits stay single tokens even inside the tag.
  const auto enc = v1.encode_full(tag);
  BOOST_TEST((std::find(enc.pieces.begin(), enc.pieces.end(), "1") != enc.pieces.end()));
  const auto image = v1.encode("<fake_token_around_image><image>");
  BOOST_TEST(image.size() == 2u);
}

BOOST_AUTO_TEST_CASE(bad_input_and_files) {
  const Tokenizer tok = Tokenizer::load(tokenizer_dir() / "tokenizer.json");
  BOOST_CHECK_THROW(tok.encode(std::string("ab\xff\xfe")), folio::Error);
  BOOST_TEST(tok.encode("").empty());
  folio::test::TempDir dir;
  auto j = read_json(tokenizer_dir() / "tokenizer.json");
  j["normalizer"] = {{"type", "NFKC"}};
  std::ofstream(dir.path() / "t.json") << j.dump();
  try {
    Tokenizer::load(dir.path() / "t.json");
    BOOST_ERROR("accepted a normalizer");
  } catch (const folio::Error& e) {
    BOOST_TEST(std::string(e.what()).find("normalizer NFKC") != std::string::npos);
  }
  std::ofstream(dir.path() / "broken.json") << "{\"model\": ";
  BOOST_CHECK_THROW(Tokenizer::load(dir.path() / "broken.json"), folio::Error);
  BOOST_CHECK_THROW(Tokenizer::load(dir.path() / "missing.json"), folio::Error);
}

BOOST_AUTO_TEST_SUITE_END()
