// The interface behind Linear (private to the kernels): one implementation per precision family.
#pragma once

#include <memory>
#include <span>

#include "engine/kernels/linear.hpp"

namespace folio::engine::kernels {

class Linear::Impl {
 public:
  Impl(int out, int in, Precision precision) : out_(out), in_(in), precision_(precision) {}
  virtual ~Impl();
  virtual void forward(const float* x, int m, float* y, Epilogue epilogue) = 0;
  // Unfused by default: the first layer's output in a buffer, then the second layer.
  virtual void forward_mlp(const float* x, int m, Impl& second, MlpActivation act, float* y, Epilogue epilogue);
  // forward() into a buffer, then greedy_tokens.
  virtual void greedy(const float* x, int m, std::span<const int> excluded, int* index, float* logprob);
  virtual std::size_t weight_bytes() const = 0;
  const int out_, in_;
  const Precision precision_;
};

// linear_int8.cpp: s8 weights with per-channel scales, per-token u8 activations. Its products run on our
// VNNI loops where the CPU and oneDNN's weight layout allow; own_products = false keeps them on oneDNN's
// matmul (the path of other CPUs, which the tests compare against).
std::unique_ptr<Linear::Impl> make_int8_linear(std::span<const float> weight, int out, int in, std::span<const float> bias,
                                               Int8Input input, bool own_products = true);

}  // namespace folio::engine::kernels
