// Reading the checkpoint's tensors by name into float32, with the shape the config implies checked.
#pragma once

#include <omp.h>

#include <exception>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/io/safetensors.hpp"

namespace folio::engine {

// Throws folio::Error (Model) naming the tensor when it is missing or has another shape.
std::vector<float> load_tensor(const WeightFiles& weights, const std::string& name, const std::vector<std::int64_t>& shape);

// Several tensors' rows stacked into one (fused projections: [rows_i, cols] into [sum rows_i, cols]),
// each converted straight into its place: no copy of the parts is held beside the stack.
struct StackedPart {
  std::string name;
  std::vector<std::int64_t> shape;
};
std::vector<float> load_stacked(const WeightFiles& weights, const std::vector<StackedPart>& parts);
// The same into `staging`, grown when too small and otherwise reused: valid until its next use. A layer's
// weights pass through one buffer this way instead of fresh memory per tensor, which the kernel would zero
// page by page (a sixth of a load), and only one of its tensors is held in f32 at a time.
std::span<const float> load_stacked(const WeightFiles& weights, const std::vector<StackedPart>& parts,
                                   std::vector<float>& staging);

// Layers 0..n-1 as make(l, staging) builds them, one layer per thread of the OpenMP team at a time: a
// layer's load is mostly serial work (reading and converting its tensors, first touches of new memory,
// oneDNN's reorders), and only its weights' quantisation had used both cores. Inside, the kernels' own
// parallel loops run on their thread alone. `staging` is the thread's buffer for load_stacked, freed when
// the layers are built. Rethrows the error of the lowest layer that failed.
template <typename Layer, typename Make>
std::vector<Layer> build_layers(int n, Make&& make) {
  std::vector<std::optional<Layer>> built(n);
  std::vector<std::exception_ptr> errors(n);
  std::vector<std::vector<float>> staging(omp_get_max_threads());
#pragma omp parallel for schedule(dynamic, 1)
  for (int l = 0; l < n; ++l) {
    try {
      built[l].emplace(make(l, staging[omp_get_thread_num()]));
    } catch (...) {
      errors[l] = std::current_exception();
    }
  }
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  std::vector<Layer> layers;
  layers.reserve(n);
  for (auto& b : built) layers.push_back(std::move(*b));
  return layers;
}

}  // namespace folio::engine
