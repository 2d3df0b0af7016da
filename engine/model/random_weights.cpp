#include "engine/model/random_weights.hpp"

#include <cstring>
#include <memory>

#include "engine/io/model_folder.hpp"

namespace folio::engine {

WeightFiles random_weights(const ModelConfig& config, std::uint64_t seed) {
  const auto expected = expected_tensors(config);
  std::size_t total = 0;
  for (const auto& t : expected) {
    std::size_t n = 1;
    for (auto d : t.shape) n *= static_cast<std::size_t>(d);
    total += n;
  }
  auto storage = std::make_shared<std::vector<std::uint16_t>>(total);
  std::vector<TensorInfo> infos;
  std::size_t at = 0;
  std::uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  for (const auto& t : expected) {
    TensorInfo info;
    info.name = t.name;
    info.dtype = DType::BF16;
    info.shape = t.shape;
    info.file = "(random weights)";
    const std::size_t n = static_cast<std::size_t>(info.numel());
    std::uint16_t* dst = storage->data() + at;
    const bool is_norm = t.shape.size() == 1 && (t.name.find("norm") != std::string::npos);
    const bool is_bias = t.shape.size() == 1 && !is_norm;
    for (std::size_t i = 0; i < n; ++i) {
      float v;
      if (is_norm) {
        v = 1.0f;
      } else if (is_bias) {
        v = 0.0f;
      } else {
        // xorshift64*: fast enough for billions of values; uniform in [-a, a] with std 0.02.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        const std::uint64_t r = state * 0x2545F4914F6CDD1Dull;
        const float u = static_cast<float>(r >> 40) / static_cast<float>(1 << 24);  // [0, 1)
        v = (2.0f * u - 1.0f) * 0.0346f;
      }
      std::uint32_t bits;
      std::memcpy(&bits, &v, 4);
      dst[i] = static_cast<std::uint16_t>(bits >> 16);
    }
    info.bytes = std::span<const std::byte>(reinterpret_cast<const std::byte*>(dst), n * 2);
    infos.push_back(std::move(info));
    at += n;
  }
  return WeightFiles::from_memory(std::move(infos), storage, "(random weights)");
}

}  // namespace folio::engine
