// Elementwise math written so that the compiler vectorises it (no libm calls in the loop).
#pragma once

#include <bit>
#include <cstdint>

namespace folio::engine::kernels {

// e^x to about 2 ulp (Cephes' expf polynomial), 0 for x below -87.3. Inline, branch-free.
inline float exp_approx(float x) {
  x = x < -87.33654f ? -87.33654f : (x > 88.72283f ? 88.72283f : x);
  const float n = (x * 1.44269504f + 12582912.0f) - 12582912.0f;  // round to nearest, branch-free
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const auto bits = static_cast<std::uint32_t>(static_cast<int>(n) + 127) << 23;
  return x <= -87.33654f ? 0.0f : p * std::bit_cast<float>(bits);
}

// float -> bf16 bits, rounded to nearest even (finite inputs).
inline std::uint16_t bf16_of(float f) {
  const std::uint32_t b = std::bit_cast<std::uint32_t>(f);
  return static_cast<std::uint16_t>((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

// GELU with the tanh approximation (SigLIP's "gelu_pytorch_tanh"): 0.5 x (1 + tanh(u)) is exactly
// x * sigmoid(2u), which has no cancellation where tanh(u) nears -1.
inline float gelu_tanh(float x) {
  const float u = 0.7978845608f * (x + 0.044715f * x * x * x);
  return x / (1.0f + exp_approx(-2.0f * u));
}

// SiLU (swish): x * sigmoid(x).
inline float silu(float x) { return x / (1.0f + exp_approx(-x)); }

}  // namespace folio::engine::kernels
