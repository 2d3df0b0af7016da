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

}  // namespace

std::vector<float> load_tensor(const WeightFiles& weights, const std::string& name, const std::vector<std::int64_t>& shape) {
  const TensorInfo& t = checked(weights, name, shape);
  auto values = to_f32(t);
  release_pages(t);
  return values;
}

std::vector<float> load_stacked(const WeightFiles& weights, const std::vector<StackedPart>& parts) {
  std::vector<const TensorInfo*> tensors;
  std::size_t total = 0;
  for (const auto& p : parts) {
    tensors.push_back(&checked(weights, p.name, p.shape));
    total += static_cast<std::size_t>(tensors.back()->numel());
  }
  std::vector<float> out(total);
  std::size_t at = 0;
  for (const TensorInfo* t : tensors) {
    to_f32_into(*t, out.data() + at);
    release_pages(*t);
    at += static_cast<std::size_t>(t->numel());
  }
  return out;
}

}  // namespace folio::engine
