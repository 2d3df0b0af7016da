#include "engine/model/weights.hpp"

#include "common/error.hpp"

namespace folio::engine {
namespace {

// The tensor `name`, or an error naming it and its file when its shape is not the one the config implies.
const TensorInfo& checked(const WeightFiles& weights, const std::string& name, const std::vector<std::int64_t>& shape) {
  const TensorInfo& t = weights.at(name);
  if (t.shape != shape) {
    auto str = [](const std::vector<std::int64_t>& s) {
      std::string o = "[";
      for (std::size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
      return o + "]";
    };
    throw Error(ErrorKind::Model, "has shape " + str(t.shape) + " but the config implies " + str(shape),
                {t.file, std::nullopt, "tensor " + name});
  }
  return t;
}

// The parts' tensors (shapes checked) and their total number of values.
std::size_t stacked_tensors(const WeightFiles& weights, const std::vector<StackedPart>& parts,
                            std::vector<const TensorInfo*>& tensors) {
  std::size_t total = 0;
  for (const auto& p : parts) {
    tensors.push_back(&checked(weights, p.name, p.shape));
    total += static_cast<std::size_t>(tensors.back()->numel());
  }
  return total;
}

void convert_stacked(const std::vector<const TensorInfo*>& tensors, float* out) {
  for (const TensorInfo* t : tensors) {
    to_f32_into(*t, out);
    release_pages(*t);
    out += static_cast<std::size_t>(t->numel());
  }
}

}  // namespace

std::vector<float> load_tensor(const WeightFiles& weights, const std::string& name, const std::vector<std::int64_t>& shape) {
  return load_stacked(weights, {{name, shape}});
}

std::vector<float> load_stacked(const WeightFiles& weights, const std::vector<StackedPart>& parts) {
  std::vector<const TensorInfo*> tensors;
  std::vector<float> out(stacked_tensors(weights, parts, tensors));
  convert_stacked(tensors, out.data());
  return out;
}

std::span<const float> load_stacked(const WeightFiles& weights, const std::vector<StackedPart>& parts,
                                   std::vector<float>& staging) {
  std::vector<const TensorInfo*> tensors;
  const std::size_t total = stacked_tensors(weights, parts, tensors);
  if (staging.size() < total) {
    staging = {};  // the old buffer goes before the new one is touched
    staging.resize(total);
  }
  convert_stacked(tensors, staging.data());
  return {staging.data(), total};
}

}  // namespace folio::engine
