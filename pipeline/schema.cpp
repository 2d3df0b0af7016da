#include "pipeline/schema.hpp"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

#include "common/error.hpp"
#include "common/sha256.hpp"
#include "pipeline/regex.hpp"
#include "pipeline/yaml_file.hpp"

namespace folio::pipeline {
namespace {

constexpr const char* kTypeNames[] = {"string", "integer", "number", "money", "date", "boolean", "enum", "list"};

class Loader {
 public:
  explicit Loader(std::filesystem::path path) : path_(std::move(path)) {}

  [[noreturn]] void fail(const YAML::Node& node, const std::string& why) const { yaml_error(path_, node, why); }

  std::string text(const YAML::Node& node, const std::string& key) const {
    if (!node.IsScalar()) fail(node, "'" + key + "' must be text");
    return node.as<std::string>();
  }

  void check_keys(const YAML::Node& map, const std::set<std::string>& known, const std::string& where) const {
    check_yaml_keys(path_, map, known, where);
  }

  PageSpec pages(const YAML::Node& node) const {
    PageSpec p;
    p.text = text(node, "pages");
    std::string t;
    for (char c : p.text)
      if (!std::isspace(static_cast<unsigned char>(c))) t += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto number = [&](const std::string& s) {
      if (s.empty() || s.size() > 6 || !std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) ||
          std::stoi(s) < 1)
        fail(node, "'pages' must be first, last, all, a page number or a range like 2-5 or 2-end; not '" + p.text + "'");
      return std::stoi(s);
    };
    if (t == "all") return p;
    if (t == "first") {
      p.kind = PageSpec::Kind::First;
      return p;
    }
    if (t == "last") {
      p.kind = PageSpec::Kind::Last;
      return p;
    }
    p.kind = PageSpec::Kind::Range;
    const auto dash = t.find('-');
    if (dash == std::string::npos) {
      p.from = p.to = number(t);
    } else {
      p.from = number(t.substr(0, dash));
      const auto end = t.substr(dash + 1);
      p.to = end == "end" ? -1 : number(end);
      if (p.to != -1 && p.to < p.from) fail(node, "'pages' range " + p.text + " ends before it starts");
    }
    return p;
  }

  FieldType type(const YAML::Node& node, bool allow_list) const {
    const auto name = text(node, "type");
    const auto t = parse_field_type(name);
    if (!t || (!allow_list && *t == FieldType::List)) {
      std::string list;
      for (const char* n : kTypeNames)
        if (allow_list || std::string(n) != "list") list += (list.empty() ? "" : ", ") + std::string(n);
      fail(node, "unknown type '" + name + "' (one of " + list + ")");
    }
    return *t;
  }

  Field field(const YAML::Node& node) const {
    if (!node.IsMap()) fail(node, "each field must be a mapping with name, question and type");
    check_keys(node, {"name", "question", "type", "items", "pattern", "values", "required", "pages", "description"},
               "a field");
    Field f;
    f.line = node.Mark().line + 1;
    for (const char* key : {"name", "question", "type"})
      if (!node[key]) fail(node, std::string("a field needs '") + key + "'");
    f.name = text(node["name"], "name");
    const bool identifier = !f.name.empty() && !std::isdigit(static_cast<unsigned char>(f.name[0])) &&
                            std::all_of(f.name.begin(), f.name.end(), [](char c) {
                              return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
                            });
    if (!identifier) fail(node["name"], "field name '" + f.name + "' must be letters, digits, _ or - (not starting with a digit)");
    f.question = text(node["question"], "question");
    if (f.question.find_first_not_of(" \t\n") == std::string::npos) fail(node["question"], "'question' is empty");
    f.type = type(node["type"], true);
    if (node["items"]) {
      if (f.type != FieldType::List) fail(node["items"], "'items' is only for type list");
      f.item_type = type(node["items"], false);
    }
    if (node["description"]) f.description = text(node["description"], "description");
    if (node["required"]) {
      try {
        f.required = node["required"].as<bool>();
      } catch (const YAML::Exception&) {
        fail(node["required"], "'required' must be true or false");
      }
    }
    if (node["pages"]) f.pages = pages(node["pages"]);
    if (node["values"]) {
      if (f.type != FieldType::Enum && !(f.type == FieldType::List && f.item_type == FieldType::Enum))
        fail(node["values"], "'values' is only for type enum (or a list of enum items)");
      if (!node["values"].IsSequence() || node["values"].size() == 0) fail(node["values"], "'values' must be a non-empty list");
      for (const auto& v : node["values"]) f.values.push_back(text(v, "values"));
    }
    if ((f.type == FieldType::Enum || (f.type == FieldType::List && f.item_type == FieldType::Enum)) && f.values.empty())
      fail(node, "an enum field needs 'values'");
    if (node["pattern"]) {
      f.pattern = text(node["pattern"], "pattern");
      try {
        Regex check(*f.pattern);
      } catch (const Error& e) {
        fail(node["pattern"], e.reason());
      }
    }
    return f;
  }

  Schema load() const {
    const YAML::Node root = load_yaml_file(path_, "schema file");
    if (!root.IsMap()) fail(root, "a schema is a mapping with 'name' and 'fields'");
    check_keys(root, {"name", "description", "date_order", "fields"}, "the schema");
    Schema s;
    s.path = path_;
    if (!root["name"]) fail(root, "the schema needs a 'name'");
    s.name = text(root["name"], "name");
    if (root["description"]) s.description = text(root["description"], "description");
    if (root["date_order"]) {
      s.date_order = parse_date_order(text(root["date_order"], "date_order"));
      if (!s.date_order) fail(root["date_order"], "'date_order' must be dmy, mdy or ymd");
    }
    const auto fields = root["fields"];
    if (!fields || !fields.IsSequence() || fields.size() == 0) fail(fields ? fields : root, "'fields' must be a non-empty list");
    std::set<std::string> names;
    for (const auto& node : fields) {
      Field f = field(node);
      if (!names.insert(f.name).second) fail(node["name"], "field '" + f.name + "' is defined twice");
      s.fields.push_back(std::move(f));
    }
    s.sha256 = sha256_file_hex(path_);
    return s;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace

std::optional<FieldType> parse_field_type(std::string_view name) {
  for (std::size_t i = 0; i < std::size(kTypeNames); ++i)
    if (name == kTypeNames[i]) return static_cast<FieldType>(i);
  return std::nullopt;
}

const char* to_string(FieldType type) { return kTypeNames[static_cast<int>(type)]; }

std::optional<DateOrder> parse_date_order(std::string_view text) {
  if (text == "dmy") return DateOrder::DMY;
  if (text == "mdy") return DateOrder::MDY;
  if (text == "ymd") return DateOrder::YMD;
  return std::nullopt;
}

bool PageSpec::includes(int page, int page_count) const {
  switch (kind) {
    case Kind::All: return true;
    case Kind::First: return page == 1;
    case Kind::Last: return page == page_count;
    case Kind::Range: return page >= from && (to < 0 || page <= to);
  }
  return false;
}

Schema load_schema(const std::filesystem::path& path) { return Loader(path).load(); }

}  // namespace folio::pipeline
