// Keys (after RoPE) and values of every decoder layer. Values are token-major ([token][kv_heads * head_dim]);
// keys are dimension-major ([kv_heads * head_dim][capacity]) so that a decode step scores all keys with
// loops contiguous in keys. A prompt prefix stays valid when later tokens are rolled back or written
// elsewhere (several questions' tails after one shared page prefix), and that prefix is also kept packed
// (int8 for the int8 engine) for the many decode steps that read it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "engine/kernels/attention.hpp"

namespace folio::engine {

struct KvCache {
  KvCache(int layers, int capacity, int kv_width)
      : capacity(capacity), width(kv_width), k(layers, std::vector<float>(static_cast<std::size_t>(capacity) * kv_width)),
        v(layers, std::vector<float>(static_cast<std::size_t>(capacity) * kv_width)), packed_prefix(layers) {}

  // Drops the packed prefixes: rows they were packed from are being written.
  void unpack() {
    for (auto& p : packed_prefix) p.keys = 0;
  }

  // Stores `rows` rows of [k | v] (each kv_width wide, rows `stride` floats apart) at cache rows
  // first, first + 1, ... K dimension by dimension: each dimension's run of rows is contiguous in the
  // cache (a prompt's rows one by one wrote every dimension's line of every row apart).
  void store(int layer, const float* kv, int stride, int rows, int first);
  // Row r at cache row slots[r].
  void store(int layer, const float* kv, int stride, int rows, const int* slots);

  int capacity;
  int width;       // kv_heads * head_dim
  int length = 0;  // tokens stored
  std::vector<std::vector<float>> k, v;
  // Per layer: the shared page prefix packed for attention, once, for the decode steps of its questions.
  std::vector<kernels::PackedKv> packed_prefix;
};

}  // namespace folio::engine
