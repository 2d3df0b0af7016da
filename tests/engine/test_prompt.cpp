// Chat template rendering and prompt building against transformers' processor output
// (../shared/reference/tiny-a/cases/*/golden.json and input_ids).
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "engine/io/safetensors.hpp"
#include "engine/model/config.hpp"
#include "engine/text/chat_template.hpp"
#include "engine/text/prompt.hpp"
#include "support/paths.hpp"

namespace fs = std::filesystem;
using namespace folio::engine;
using namespace folio::engine::text;

namespace {

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

fs::path checkpoint() { return folio::test::reference_dir() / "tiny-a" / "checkpoint"; }

std::vector<fs::path> golden_cases() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(folio::test::reference_dir() / "tiny-a" / "cases"))
    if (fs::exists(e.path() / "golden.json")) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int> golden_ids(const fs::path& dir) {
  SafetensorsFile st(dir / "golden.safetensors");
  const auto& t = st.at("input_ids");
  BOOST_REQUIRE((t.dtype == DType::I64));
  std::vector<int> ids(t.numel());
  const auto* p = reinterpret_cast<const std::int64_t*>(t.bytes.data());
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int>(p[i]);
  return ids;
}

std::string render(const std::string& tpl, const TemplateValue::Map& vars) { return ChatTemplate(tpl).render(vars); }

}  // namespace

BOOST_AUTO_TEST_SUITE(prompt)

BOOST_AUTO_TEST_CASE(golden_prompts_and_ids_match) {
  const Tokenizer tok = Tokenizer::load(checkpoint() / "tokenizer.json");
  const ModelConfig cfg = load_model_config(checkpoint() / "config.json");
  const auto builder = PromptBuilder::load(checkpoint(), tok, cfg.image_token_id, PromptStyle::Chat);
  const auto cases = golden_cases();
  BOOST_TEST_REQUIRE(!cases.empty());
  for (const auto& dir : cases) {
    BOOST_TEST_CONTEXT(dir.filename().string()) {
      const auto g = read_json(dir / "golden.json");
      const auto& msg = g["prompt"]["messages"][0]["content"];
      std::string question;
      for (const auto& item : msg)
        if (item["type"] == "text") question = item["text"].get<std::string>();
      BOOST_TEST(builder.render(question) == g["prompt"]["chat_template_output"].get<std::string>());
      const ImageLayout layout{g["processor"]["rows"].get<int>(), g["processor"]["cols"].get<int>(),
                               cfg.tokens_per_tile()};
      const Prompt p = builder.build(question, layout);
      BOOST_TEST(p.text == g["prompt"]["expanded_prompt"].get<std::string>());
      const auto ids = golden_ids(dir);
      BOOST_TEST(p.ids == ids);
      BOOST_TEST(static_cast<int>(p.ids.size()) == g["prompt"]["num_tokens"].get<int>());
      // The split point: the prefix ends with the image block; tokenizing the whole prompt at once agrees.
      BOOST_TEST(tok.encode(p.text) == p.ids);
      BOOST_TEST(tok.token_string(p.ids[p.prefix_length - 1]) == "<fake_token_around_image>");
      const Prompt other = builder.build("Another question?", layout);
      BOOST_TEST((std::vector<int>(other.ids.begin(), other.ids.begin() + other.prefix_length) ==
                  std::vector<int>(p.ids.begin(), p.ids.begin() + p.prefix_length)));
    }
  }
}

BOOST_AUTO_TEST_CASE(image_block_layout_follows_the_processor) {
  const Tokenizer tok = Tokenizer::load(checkpoint() / "tokenizer.json");
  const ModelConfig cfg = load_model_config(checkpoint() / "config.json");
  const auto builder = PromptBuilder::load(checkpoint(), tok, cfg.image_token_id, PromptStyle::Chat);
  const ImageLayout two_by_two{2, 2, 2};
  const std::string I = "<image>", F = "<fake_token_around_image>";
  BOOST_TEST(builder.image_block(two_by_two) == F + "<row_1_col_1>" + I + I + F + "<row_1_col_2>" + I + I + "\n" + F +
                                                    "<row_2_col_1>" + I + I + F + "<row_2_col_2>" + I + I + "\n\n" + F +
                                                    "<global-img>" + I + I + F);
  BOOST_TEST(builder.image_block({0, 0, 3}) == F + "<global-img>" + I + I + I + F);
  // The count check: a question that smuggles in an <image> breaks the merge, so it is refused.
  BOOST_CHECK_THROW(builder.build("what is <image> here?", {1, 2, cfg.tokens_per_tile()}), folio::Error);
  // The DocVQA style is the evaluation string, image first.
  const auto docvqa = PromptBuilder::load(checkpoint(), tok, cfg.image_token_id, PromptStyle::DocVQA);
  const std::string r = docvqa.render("  What is the total? ");
  BOOST_TEST(r.rfind("<|im_start|>User:<image>Give a short and terse answer", 0) == 0);
  BOOST_TEST(r.find("Question: What is the total?<end_of_utterance>\nAssistant:") != std::string::npos);
  BOOST_TEST(docvqa.build("What is the total?", {1, 2, cfg.tokens_per_tile()}).ids.size() > 0u);
}

BOOST_AUTO_TEST_CASE(template_subset) {
  using V = TemplateValue;
  V::Map vars{{"items", V(V::List{V("a"), V("b"), V("c")})}, {"name", V("wORLD")}, {"n", V(3)}, {"flag", V(false)}};
  BOOST_TEST(render("{% for x in items %}{{ loop.index }}{{ x }}{% if not loop.last %},{% endif %}{% endfor %}", vars) ==
             "1a,2b,3c");
  BOOST_TEST(render("Hello {{ name | capitalize }}!", vars) == "Hello World!");
  BOOST_TEST(render("{% if n > 2 and not flag %}big{% elif n == 2 %}two{% else %}small{% endif %}", vars) == "big");
  BOOST_TEST(render("{% set y = 'x' ~ n %}{{ y + '!' }}", vars) == "x3!");
  BOOST_TEST(render("  {%- if true -%}  \n trimmed  {%- endif %}", vars) == "trimmed");
  BOOST_TEST(render("{{ 'b' in items }}{{ items | length }}{{ missing is defined }}", vars) == "True3False");
  BOOST_TEST(render("{# a comment #}{{ \"q\\\"s\" }}", vars) == "q\"s");
  BOOST_TEST(render("{{ ' x '.strip() }}{{ name.lower() }}", vars) == "xworld");
  for (const char* bad : {"{% macro m() %}{% endmacro %}", "{{ x | replace('a', 'b') }}", "{% for x in items %}",
                          "{{ range(3) }}", "{{ 1 / 2 }}"})
    BOOST_CHECK_THROW(render(bad, vars), folio::Error);
}

BOOST_AUTO_TEST_SUITE_END()
