// Extraction schemas (docs/schemas.md): a YAML file naming a document type and the fields to extract,
// each with the question the model is asked, a type its answer is normalised to, and where to look.
// Everything is checked when the file is loaded; errors name the file and line.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace folio::pipeline {

enum class FieldType { String, Integer, Number, Money, Date, Boolean, Enum, List };
std::optional<FieldType> parse_field_type(std::string_view name);  // "string", "integer", ...
const char* to_string(FieldType type);

// Which pages of a document a field is asked on.
struct PageSpec {
  enum class Kind { All, First, Last, Range } kind = Kind::All;
  int from = 1, to = -1;  // Range, 1-based; to == -1 means the last page
  bool includes(int page, int page_count) const;  // page is 1-based
  std::string text = "all";  // as written
};

enum class DateOrder { DMY, MDY, YMD };
std::optional<DateOrder> parse_date_order(std::string_view text);  // "dmy" | "mdy" | "ymd"

struct Field {
  std::string name, question, description;
  FieldType type = FieldType::String;
  FieldType item_type = FieldType::String;  // the items of a list (`items:`)
  std::optional<std::string> pattern;        // PCRE2 regex the normalised value, as text, must match
  std::vector<std::string> values;           // an enum's values
  bool required = false;
  PageSpec pages;
  int line = 0;  // 1-based line in the YAML file
};

struct Schema {
  std::string name, description;
  std::vector<Field> fields;
  std::optional<DateOrder> date_order;  // overrides the run's date_order
  std::filesystem::path path;
  std::string sha256;  // of the file's bytes: outputs record it, reruns compare it
};

// Throws folio::Error (Usage) naming the file and line for anything wrong.
Schema load_schema(const std::filesystem::path& path);

}  // namespace folio::pipeline
