#include "engine/model/kv_cache.hpp"

#include "engine/kernels/parallel.hpp"

namespace folio::engine {

// A prompt's rows spread over the thread team (14 ms of a 1112-token prefill on one thread).
void KvCache::store(int layer, const float* kv, int stride, int rows, int first) {
  float* kl = k[layer].data() + first;
  kernels::for_each_row(width, rows, [&](int c) {
    float* kc = kl + static_cast<std::size_t>(c) * capacity;
    for (int r = 0; r < rows; ++r) kc[r] = kv[static_cast<std::size_t>(r) * stride + c];
  });
  kernels::for_each_row(rows, width, [&](int r) {
    std::copy_n(kv + static_cast<std::size_t>(r) * stride + width, width,
                v[layer].data() + static_cast<std::size_t>(first + r) * width);
  });
}

void KvCache::store(int layer, const float* kv, int stride, int rows, const int* slots) {
  for (int r = 0; r < rows; ++r) store_row(layer, kv + static_cast<std::size_t>(r) * stride, slots[r]);
}

void KvCache::store_row(int layer, const float* src, int slot) {
  float* kl = k[layer].data();
  for (int c = 0; c < width; ++c) kl[static_cast<std::size_t>(c) * capacity + slot] = src[c];
  std::copy_n(src + width, width, v[layer].data() + static_cast<std::size_t>(slot) * width);
}

}  // namespace folio::engine
