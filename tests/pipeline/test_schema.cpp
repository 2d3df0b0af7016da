// Schemas: the shipped ones load; every kind of mistake is an error naming the file and its line;
// `folio schema check` and `folio normalize` exit codes.
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "pipeline/schema.hpp"
#include "support/paths.hpp"

namespace fs = std::filesystem;
namespace pl = folio::pipeline;

namespace {

std::string load_error(const std::string& yaml) {
  folio::test::TempDir d;
  const auto p = d.path() / "s.yaml";
  std::ofstream(p) << yaml;
  try {
    pl::load_schema(p);
  } catch (const folio::Error& e) {
    BOOST_TEST((e.kind() == folio::ErrorKind::Usage));
    BOOST_TEST(std::string(e.what()).find("s.yaml") != std::string::npos);
    return e.what();
  }
  return "(no error)";
}

const std::string kHead = "name: t\nfields:\n";  // fields start on line 3

}  // namespace

BOOST_AUTO_TEST_SUITE(schema)

BOOST_AUTO_TEST_CASE(shipped_schemas_load) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(folio::test::source_dir() / "schemas")) {
    if (e.path().extension() != ".yaml") continue;
    const auto s = pl::load_schema(e.path());
    BOOST_TEST(!s.fields.empty(), e.path());
    BOOST_TEST(s.sha256.size() == 64u);
    ++n;
  }
  BOOST_TEST(n >= 4);
  const auto inv = pl::load_schema(folio::test::source_dir() / "schemas" / "invoice.yaml");
  BOOST_TEST(inv.name == "invoice");
}

BOOST_AUTO_TEST_CASE(fields_are_read_as_written) {
  folio::test::TempDir d;
  std::ofstream(d.path() / "s.yaml") << "name: demo\ndate_order: mdy\nfields:\n"
                                        "  - name: kind\n    question: Which kind?\n    type: enum\n    values: [a, b]\n"
                                        "    required: true\n    pages: 2-end\n    description: the kind\n"
                                        "  - name: tags\n    question: Which tags?\n    type: list\n    items: integer\n"
                                        "  - name: code\n    question: Which code?\n    type: string\n    pattern: '[A-Z]+'\n"
                                        "    pages: last\n";
  const auto s = pl::load_schema(d.path() / "s.yaml");
  BOOST_TEST_REQUIRE(s.fields.size() == 3u);
  BOOST_TEST((s.date_order == pl::DateOrder::MDY));
  const auto& k = s.fields[0];
  BOOST_TEST((k.type == pl::FieldType::Enum));
  BOOST_TEST((k.values == std::vector<std::string>{"a", "b"}));
  BOOST_TEST(k.required);
  BOOST_TEST(k.line == 4);
  BOOST_TEST(!k.pages.includes(1, 5));
  BOOST_TEST(k.pages.includes(5, 5));
  BOOST_TEST((s.fields[1].item_type == pl::FieldType::Integer));
  BOOST_TEST(s.fields[2].pages.includes(3, 3));
  BOOST_TEST(!s.fields[2].pages.includes(2, 3));
  BOOST_TEST(*s.fields[2].pattern == "[A-Z]+");
}

BOOST_AUTO_TEST_CASE(each_mistake_names_its_line) {
  struct Case {
    std::string yaml, expect;
  };
  const std::vector<Case> cases = {
      {"name: t\nfields: [\n", "line"},  // YAML syntax
      {"name: t\nfieldz: []\n", "line 2: unknown key 'fieldz'"},
      {"fields:\n  - name: a\n    question: q\n    type: string\n", "needs a 'name'"},
      {"name: t\nfields: []\n", "line 2: 'fields' must be a non-empty list"},
      {kHead + "  - name: a\n    question: q\n", "line 3: a field needs 'type'"},
      {kHead + "  - name: a\n    question: q\n    type: strng\n", "line 5: unknown type 'strng'"},
      {kHead + "  - name: a\n    question: q\n    type: string\n    colour: red\n", "line 6: unknown key 'colour'"},
      {kHead + "  - name: a\n    question: q\n    type: enum\n", "line 3: an enum field needs 'values'"},
      {kHead + "  - name: a\n    question: q\n    type: string\n    values: [x]\n", "line 6: 'values' is only for type enum"},
      {kHead + "  - name: a\n    question: q\n    type: string\n    pattern: '[a-'\n", "line 6: bad pattern"},
      {kHead + "  - name: a\n    question: q\n    type: string\n  - name: a\n    question: q2\n    type: date\n",
       "line 6: field 'a' is defined twice"},
      {kHead + "  - name: 2nd\n    question: q\n    type: string\n", "line 3: field name '2nd'"},
      {kHead + "  - name: a\n    question: q\n    type: string\n    pages: middle\n", "line 6: 'pages' must be"},
      {kHead + "  - name: a\n    question: q\n    type: string\n    pages: 5-2\n", "ends before it starts"},
      {kHead + "  - name: a\n    question: q\n    type: string\n    required: maybe\n", "line 6: 'required' must be true or false"},
      {kHead + "  - name: a\n    question: q\n    type: string\n    items: date\n", "line 6: 'items' is only for type list"},
      {kHead + "  - name: a\n    question: q\n    type: list\n    items: list\n", "line 6: unknown type 'list'"},
      {kHead + "  - name: a\n    question: '  '\n    type: string\n", "line 4: 'question' is empty"},
      {"name: t\ndate_order: dym\nfields:\n  - name: a\n    question: q\n    type: string\n", "line 2: 'date_order'"},
  };
  for (const auto& c : cases) {
    const auto e = load_error(c.yaml);
    BOOST_TEST(e.find(c.expect) != std::string::npos, "expected '" << c.expect << "' in: " << e);
  }
  BOOST_CHECK_THROW(pl::load_schema("/nonexistent/schema.yaml"), folio::Error);
}

BOOST_AUTO_TEST_CASE(cli_check_and_normalize) {
  const auto bin = folio::test::folio_bin();
  const auto ok = folio::test::run_command(bin + " schema check " + (folio::test::source_dir() / "schemas" / "receipt.yaml").string());
  BOOST_TEST(ok.status == 0);
  BOOST_TEST(ok.out.find("ok") != std::string::npos);
  folio::test::TempDir d;
  std::ofstream(d.path() / "bad.yaml") << "name: t\nfields:\n  - name: a\n    question: q\n    type: nope\n";
  const auto bad = folio::test::run_command(bin + " schema check " + (d.path() / "bad.yaml").string() + " 2>&1");
  BOOST_TEST(bad.status == 2);
  BOOST_TEST(bad.out.find("line 5") != std::string::npos, bad.out);

  auto n = folio::test::run_command(bin + " normalize money '1.234,56 EUR'");
  BOOST_TEST(n.status == 0);
  const auto j = nlohmann::json::parse(n.out);
  BOOST_TEST(j["value"]["amount"] == 1234.56);
  BOOST_TEST(j["value"]["currency"] == "EUR");
  n = folio::test::run_command(bin + " normalize date 05/11/2024 --date-order mdy");
  BOOST_TEST(nlohmann::json::parse(n.out)["value"] == "2024-05-11");
  n = folio::test::run_command(bin + " normalize date 31/02/2024");
  BOOST_TEST(n.status == 1);
  BOOST_TEST(!nlohmann::json::parse(n.out)["valid"].get<bool>());
  BOOST_TEST(folio::test::run_command(bin + " normalize colour red 2>/dev/null").status == 2);
  n = folio::test::run_command(bin + " normalize enum 'Credit Card' --values cash,credit-card");
  BOOST_TEST(nlohmann::json::parse(n.out)["value"] == "credit-card");
}

BOOST_AUTO_TEST_SUITE_END()
