// Normalisers over many real-world forms, and the ones they must refuse.
#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include "pipeline/normalize.hpp"

namespace pl = folio::pipeline;
using nlohmann::json;

namespace {

pl::Normalized norm(pl::FieldType t, const std::string& raw, pl::DateOrder order = pl::DateOrder::DMY,
                    const std::vector<std::string>& values = {}, pl::FieldType items = pl::FieldType::String) {
  pl::NormalizeOptions o;
  o.date_order = order;
  return pl::normalize(t, raw, o, values, items);
}

void expect(pl::FieldType t, const std::string& raw, const json& value, pl::DateOrder order = pl::DateOrder::DMY) {
  const auto n = norm(t, raw, order);
  BOOST_TEST(n.valid, "'" << raw << "': " << n.reason);
  BOOST_TEST(n.present, raw);
  BOOST_TEST(n.value == value, "'" << raw << "' gave " << n.value.dump() << ", expected " << value.dump());
}

void reject(pl::FieldType t, const std::string& raw, pl::DateOrder order = pl::DateOrder::DMY) {
  const auto n = norm(t, raw, order);
  BOOST_TEST(!n.valid, "'" << raw << "' should be refused, gave " << n.value.dump());
  BOOST_TEST(n.value.is_null());
  BOOST_TEST(!n.reason.empty());
}

json money(double amount, const char* currency) {
  return {{"amount", amount == static_cast<long long>(amount) ? json(static_cast<long long>(amount)) : json(amount)},
          {"currency", currency ? json(currency) : json(nullptr)}};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(normalize)

using pl::FieldType;

BOOST_AUTO_TEST_CASE(dates) {
  for (const auto& [raw, iso] : std::vector<std::pair<std::string, std::string>>{
           {"05/11/2024", "2024-11-05"},      {"5/11/2024", "2024-11-05"},          {"5.11.2024", "2024-11-05"},
           {"05-11-24", "2024-11-05"},        {"2024-11-05", "2024-11-05"},         {"2024/11/05", "2024-11-05"},
           {"5 Nov 2024", "2024-11-05"},      {"5 November 2024", "2024-11-05"},    {"November 5, 2024", "2024-11-05"},
           {"Nov. 5 2024", "2024-11-05"},     {"Nov 5th, 2024", "2024-11-05"},      {"5th of November 2024", "2024-11-05"},
           {"Tuesday, 5 November 2024", "2024-11-05"}, {"Tue 5 Nov 2024", "2024-11-05"}, {"2024 Nov 5", "2024-11-05"},
           {"29/02/2024", "2024-02-29"},      {"1 janvier 2025", "2025-01-01"},     {"3. März 2023", "2023-03-03"},
           {"12 de diciembre de 2022", "2022-12-12"}, {"31-12-99", "1999-12-31"},   {"\"05/11/2024.\"", "2024-11-05"}})
    expect(FieldType::Date, raw, iso);
  expect(FieldType::Date, "05/11/2024", "2024-05-11", pl::DateOrder::MDY);
  expect(FieldType::Date, "11/30/2024", "2024-11-30", pl::DateOrder::MDY);
  expect(FieldType::Date, "24/11/05", "2024-11-05", pl::DateOrder::YMD);
  for (const char* bad : {"31/02/2024", "29/02/2023", "13/13/2024", "yesterday", "5 Smarch 2024", "2024", "11/2024",
                          "05/11/2024/7", "0/11/2024", "32 Jan 2024", "2024-13-01", "5 Nov 202"})
    reject(FieldType::Date, bad);
  reject(FieldType::Date, "11/30/2024");  // day 11 of month 30 in dmy
}

BOOST_AUTO_TEST_CASE(money_amounts) {
  expect(FieldType::Money, "$1,234.56", money(1234.56, "USD"));
  expect(FieldType::Money, "1.234,56 EUR", money(1234.56, "EUR"));
  expect(FieldType::Money, "1 234,56 €", money(1234.56, "EUR"));
  expect(FieldType::Money, "€ 12,50", money(12.5, "EUR"));
  expect(FieldType::Money, "USD 99", money(99, "USD"));
  expect(FieldType::Money, "usd 99.00", money(99, "USD"));
  expect(FieldType::Money, "£3", money(3, "GBP"));
  expect(FieldType::Money, "¥1200", money(1200, "JPY"));
  expect(FieldType::Money, "CHF 1'234.50", money(1234.5, "CHF"));
  expect(FieldType::Money, "-$5.00", money(-5, "USD"));
  expect(FieldType::Money, "(5.00)", money(-5, nullptr));
  expect(FieldType::Money, "1,234.56", money(1234.56, nullptr));
  expect(FieldType::Money, "US$ 10", money(10, "USD"));
  expect(FieldType::Money, "R$ 1.500,00", money(1500, "BRL"));
  expect(FieldType::Money, "25 dollars", money(25, "USD"));
  expect(FieldType::Money, "Total: 42.10 EUR", money(42.1, "EUR"));
  for (const char* bad : {"a lot", "$", "EUR", "12..5", "1,23,4.5", "$1,2345.00", "twelve dollars"}) reject(FieldType::Money, bad);
}

BOOST_AUTO_TEST_CASE(numbers_and_integers) {
  expect(FieldType::Number, "1,234.56", 1234.56);
  expect(FieldType::Number, "1.234,56", 1234.56);
  expect(FieldType::Number, "1 234,56", 1234.56);
  expect(FieldType::Number, "1'234.56", 1234.56);
  expect(FieldType::Number, "1.234.567", 1234567);
  expect(FieldType::Number, "-12", -12);
  expect(FieldType::Number, "+3.5", 3.5);
  expect(FieldType::Number, "12%", 12);
  expect(FieldType::Number, "0,5", 0.5);
  expect(FieldType::Number, ".5", 0.5);
  expect(FieldType::Number, "12.50-", -12.5);
  for (const char* bad : {"abc", "1,2,3", "12.34.5", "1.2.3,4", "--5", "5e3", "1,23.4"}) reject(FieldType::Number, bad);
  expect(FieldType::Integer, "1,234", 1234);
  expect(FieldType::Integer, "42", 42);
  expect(FieldType::Integer, "12.", 12);
  expect(FieldType::Integer, "1,234.00", 1234);
  expect(FieldType::Integer, "-7", -7);
  for (const char* bad : {"12.5", "abc", "4 2 1", "1e3"}) reject(FieldType::Integer, bad);
}

BOOST_AUTO_TEST_CASE(booleans_enums_strings_lists) {
  for (const char* t : {"yes", "Yes", "TRUE", "y", "1", "checked", "Oui"}) expect(FieldType::Boolean, t, true);
  for (const char* f : {"no", "No.", "false", "n", "0", "unchecked", "nein"}) expect(FieldType::Boolean, f, false);
  reject(FieldType::Boolean, "maybe");
  reject(FieldType::Boolean, "probably yes");

  const std::vector<std::string> values = {"cash", "credit card", "other"};
  BOOST_TEST(norm(FieldType::Enum, "Credit Card", pl::DateOrder::DMY, values).value == "credit card");
  BOOST_TEST(norm(FieldType::Enum, "credit-card", pl::DateOrder::DMY, values).value == "credit card");
  BOOST_TEST(!norm(FieldType::Enum, "cheque", pl::DateOrder::DMY, values).valid);

  expect(FieldType::String, "  \"ACME   Corp\"  ", "ACME Corp");
  expect(FieldType::String, "INV-2024-001.", "INV-2024-001");
  expect(FieldType::String, "v1.2", "v1.2");

  const auto l = norm(FieldType::List, "apples, pears and plums", pl::DateOrder::DMY, {}, FieldType::String);
  BOOST_TEST(l.value == json({"apples", "pears", "plums"}));
  const auto m = norm(FieldType::List, "$1,234.50; €3", pl::DateOrder::DMY, {}, FieldType::Money);
  BOOST_TEST(m.value == json::array({money(1234.5, "USD"), money(3, "EUR")}));
  const auto bad = norm(FieldType::List, "1; two; 3", pl::DateOrder::DMY, {}, FieldType::Integer);
  BOOST_TEST(!bad.valid);
  BOOST_TEST(bad.reason.find("two") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(not_present_is_null_not_invalid) {
  for (const char* raw : {"", "  ", "N/A", "none", "Not present", "not found.", "Unknown", "-", "—",
                          "There is no due date on this invoice.", "The document does not show a VAT number",
                          "I cannot find the total"}) {
    for (auto t : {FieldType::String, FieldType::Date, FieldType::Money, FieldType::Integer}) {
      const auto n = norm(t, raw);
      BOOST_TEST(!n.present, "'" << raw << "' as " << pl::to_string(t));
      BOOST_TEST(n.valid);
      BOOST_TEST(n.value.is_null());
    }
  }
  // For a boolean, "no" is an answer.
  BOOST_TEST(norm(FieldType::Boolean, "no").value == false);
  BOOST_TEST(norm(FieldType::String, "Northwind").present);
}

BOOST_AUTO_TEST_CASE(patterns_apply_to_the_normalised_value) {
  pl::Field f;
  f.type = FieldType::String;
  f.pattern = "[A-Z]{3}";
  BOOST_TEST(pl::normalize_field(f, "EUR", {}).valid);
  const auto bad = pl::normalize_field(f, "Euro", {});
  BOOST_TEST(!bad.valid);
  BOOST_TEST(bad.reason.find("pattern") != std::string::npos);
  f.type = FieldType::Date;
  f.pattern = "2024-.*";
  BOOST_TEST(pl::normalize_field(f, "5 Nov 2024", {}).valid);
  BOOST_TEST(!pl::normalize_field(f, "5 Nov 2023", {}).valid);
  BOOST_TEST(pl::normalize_field(f, "n/a", {}).valid);  // not present is not a mismatch
}

BOOST_AUTO_TEST_SUITE_END()
