// Keys (after RoPE) and values of every decoder layer, token-major: layer l, token t is at
// [l][t * kv_heads * head_dim]. A prompt prefix stays valid when later tokens are rolled back.
#pragma once

#include <vector>

namespace folio::engine {

struct KvCache {
  KvCache(int layers, int capacity, int kv_width)
      : capacity(capacity), width(kv_width), k(layers, std::vector<float>(static_cast<std::size_t>(capacity) * kv_width)),
        v(layers, std::vector<float>(static_cast<std::size_t>(capacity) * kv_width)) {}

  int capacity;
  int width;       // kv_heads * head_dim
  int length = 0;  // tokens stored
  std::vector<std::vector<float>> k, v;
};

}  // namespace folio::engine
