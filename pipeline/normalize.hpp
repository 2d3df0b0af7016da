// Turning a model's words into typed values (docs/schemas.md lists what each type accepts): dates to ISO
// 8601, money to {amount, currency}, numbers with either convention of separators, booleans, enums,
// lists. "Not present" answers are recognised and become null; what cannot be normalised keeps its raw
// text (the caller has it), with valid = false and a reason.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/schema.hpp"

namespace folio::pipeline {

struct NormalizeOptions {
  DateOrder date_order = DateOrder::DMY;  // how to read 05/11/2024
};

struct Normalized {
  nlohmann::json value;  // null when not present or not valid
  bool present = true;   // false: the model said the field is not there (or gave nothing usable)
  bool valid = true;     // false: could not be normalised, or does not match the field's pattern / values
  std::string reason;    // why not valid
};

Normalized normalize(FieldType type, std::string_view raw, const NormalizeOptions& options,
                     const std::vector<std::string>& enum_values = {}, FieldType item_type = FieldType::String);

// normalize() with the field's type, values, list items and pattern.
Normalized normalize_field(const Field& field, std::string_view raw, const NormalizeOptions& options);

// The answers that mean "not there": empty, "N/A", "none", "not present", "I cannot find ...", ...
bool means_not_present(std::string_view raw);

}  // namespace folio::pipeline
