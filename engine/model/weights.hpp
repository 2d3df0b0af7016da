// Reading the checkpoint's tensors by name into float32, with the shape the config implies checked.
#pragma once

#include <string>
#include <vector>

#include "engine/io/safetensors.hpp"

namespace folio::engine {

// Throws folio::Error (Model) naming the tensor when it is missing or has another shape.
std::vector<float> load_tensor(const WeightFiles& weights, const std::string& name, const std::vector<std::int64_t>& shape);

// Rows of several [rows_i, cols] matrices stacked into one [sum rows_i, cols] (fused projections).
std::vector<float> stack_rows(const std::vector<std::vector<float>>& parts);

}  // namespace folio::engine
