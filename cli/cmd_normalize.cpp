// folio normalize: one normaliser on one text, to see what a schema field would make of an answer.
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/command.hpp"
#include "common/error.hpp"
#include "pipeline/normalize.hpp"

namespace folio::cli {

void register_normalize(CLI::App& app, CommandResult& result) {
  struct Args {
    std::string type, text, date_order = "dmy", values, items = "string";
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("normalize", "Normalise TEXT as a schema field of TYPE would (prints JSON)");
  cmd->add_option("type", a->type, "string | integer | number | money | date | boolean | enum | list")->required();
  cmd->add_option("text", a->text, "The answer to normalise")->required();
  cmd->add_option("--date-order", a->date_order, "How to read 05/11/2024: dmy | mdy | ymd")
      ->check(CLI::IsMember({"dmy", "mdy", "ymd"}));
  cmd->add_option("--values", a->values, "Enum values, comma-separated");
  cmd->add_option("--items", a->items, "Type of a list's items");
  cmd->callback([a, &result] {
    const auto type = pipeline::parse_field_type(a->type);
    const auto items = pipeline::parse_field_type(a->items);
    if (!type || !items || *items == pipeline::FieldType::List)
      throw Error(ErrorKind::Usage, "unknown type '" + (type ? a->items : a->type) + "'");
    std::vector<std::string> values;
    std::stringstream ss(a->values);
    for (std::string v; std::getline(ss, v, ',');)
      if (!v.empty()) values.push_back(v);
    if ((*type == pipeline::FieldType::Enum || *items == pipeline::FieldType::Enum) && values.empty())
      throw Error(ErrorKind::Usage, "an enum needs --values a,b,c");
    pipeline::NormalizeOptions o;
    o.date_order = *pipeline::parse_date_order(a->date_order);
    const auto n = pipeline::normalize(*type, a->text, o, values, *items);
    nlohmann::json j = {{"value", n.value}, {"valid", n.valid}, {"present", n.present}};
    if (!n.valid) j["reason"] = n.reason;
    std::cout << j.dump() << '\n';
    result.exit_code = n.valid ? kExitOk : kExitSomeFailed;
  });
}

}  // namespace folio::cli
