// A linear layer y = x·Wᵀ (+ b) (+ activation) (+ residual), as every model file calls it.
// The weights are prepared once, at construction, for one precision; how the product runs
// (oneDNN f32, bf16 or int8 primitives, one per M bucket, created once) is this kernel's business.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

namespace folio::engine::kernels {

enum class Precision { F32, BF16, Int8 };

// The precision of a layer the int8 engine keeps out of int8 (its rounding costs more accuracy than its
// work is worth: the vision patch convolution, the connector): f32 there, the engine's own elsewhere.
inline Precision unquantised(Precision p) { return p == Precision::Int8 ? Precision::F32 : p; }

enum class Activation { None, GeluTanh, Silu };
// How an int8 layer quantises its input per token: one u8 plane (8 bits), or two (the plane and its
// rounding residual, about 16 bits, for twice the rows of the same matmul: weights still read once), or
// two only for tokens whose values spread far beyond their RMS (outlier channels; quantize.hpp).
enum class Int8Input { OnePlane, TwoPlanes, Adaptive };

// Between the two layers of an MLP: GELU (tanh) of the first layer's outputs, or SiLU-gated halves (the
// first layer's outputs are [gate | up], the second layer takes silu(gate) * up, half as wide).
enum class MlpActivation { GeluTanh, SiluGate };

struct Epilogue {
  Activation activation = Activation::None;  // applied after the bias
  bool accumulate = false;                   // y += result (residual add) instead of y = result
};

class Linear {
 public:
  // weight: [out_features, in_features] row-major f32 (PyTorch nn.Linear layout); bias: empty or [out_features].
  Linear(std::span<const float> weight, int out_features, int in_features, std::span<const float> bias,
         Precision precision, Int8Input int8_input = Int8Input::OnePlane);
  ~Linear();
  Linear(Linear&&) noexcept;
  Linear& operator=(Linear&&) noexcept;

  // x: [m, in_features] row-major, y: [m, out_features] row-major.
  void forward(const float* x, int m, float* y, Epilogue epilogue = {}) const;
  // y (+)= second(act(this(x))), the two layers of an MLP. In int8 this layer's epilogue quantises its
  // output rows straight into the second layer's input: the wide activation between them (a 1024 x 3072
  // f32 tile in SigLIP) is never written out and read back.
  void forward_mlp(const float* x, int m, const Linear& second, MlpActivation act, float* y,
                   Epilogue second_epilogue = {}) const;

  // Greedy decoding over this layer's outputs (an lm_head): for each of m rows of x, the first largest output
  // among the columns not `excluded` (sorted), exactly as forward() ranks them, and its log-softmax over
  // every column. Int8 at two planes computes only the outputs that can win at both (linear_int8.cpp).
  void greedy(const float* x, int m, std::span<const int> excluded, int* index, float* logprob) const;

  int in_features() const;
  int out_features() const;
  Precision precision() const;
  std::size_t weight_bytes() const;  // bytes of prepared weights (what a decode step reads)

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace folio::engine::kernels
