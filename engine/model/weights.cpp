#include "engine/model/weights.hpp"

#include "common/error.hpp"

namespace folio::engine {

std::vector<float> load_tensor(const WeightFiles& weights, const std::string& name, const std::vector<std::int64_t>& shape) {
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
  auto values = to_f32(t);
  release_pages(t);
  return values;
}

std::vector<float> stack_rows(const std::vector<std::vector<float>>& parts) {
  std::vector<float> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace folio::engine
