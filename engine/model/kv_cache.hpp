// Keys (after RoPE) and values of every decoder layer. Values are token-major ([token][kv_heads * head_dim]).
// Keys of rows [0, tails_from) are dimension-major ([kv_heads * head_dim][tails_from]) so that a prompt's
// keys are scored with loops contiguous in keys; rows from tails_from on (several questions' tails after
// one shared page prefix, written a row at a time by each decode step) are token-major like the values:
// a row's K is 12 cache lines there, where dimension-major it touched one line per dimension (192).
// A prompt prefix stays valid when later tokens are rolled back or written elsewhere, and that prefix is
// also kept packed (int8 for the int8 engine) for the many decode steps that read it. The int8 engine keeps
// the tails' K and V in bf16 too, which its decode steps read: half the bytes, at a rounding finer than
// its int8 prefix's.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/kernels/attention.hpp"

namespace folio::engine {

struct KvCache {
  // tails_from: the first row whose K is token-major (capacity, or negative: none). bf16_tails: those rows'
  // K and V are also kept in bf16 (TokenMajorTails::k16), for an engine whose attention reads them there.
  KvCache(int layers, int capacity, int kv_width, int tails_from = -1, bool bf16_tails = false)
      : capacity(capacity), width(kv_width), tails_from(tails_from < 0 ? capacity : std::min(tails_from, capacity)),
        k(layers, std::vector<float>(static_cast<std::size_t>(this->tails_from) * kv_width)),
        k_tails(layers, std::vector<float>(static_cast<std::size_t>(capacity - this->tails_from) * kv_width)),
        v(layers, std::vector<float>(static_cast<std::size_t>(capacity) * kv_width)),
        k_tails16(bf16_tails ? layers : 0, std::vector<std::uint16_t>(static_cast<std::size_t>(capacity - this->tails_from) * kv_width)),
        v_tails16(bf16_tails ? layers : 0, std::vector<std::uint16_t>(static_cast<std::size_t>(capacity - this->tails_from) * kv_width)),
        packed_prefix(layers) {}

  // Drops the packed prefixes: rows they were packed from are being written.
  void unpack() {
    for (auto& p : packed_prefix) p.keys = 0;
  }

  // Stores `rows` rows of [k | v] (each kv_width wide, rows `stride` floats apart) at cache rows
  // first, first + 1, ... (all before tails_from). K dimension by dimension: each dimension's run of rows
  // is contiguous in the cache (a prompt's rows one by one wrote every dimension's line of every row apart).
  void store(int layer, const float* kv, int stride, int rows, int first);
  // Row r at cache row slots[r].
  void store(int layer, const float* kv, int stride, int rows, const int* slots);

  // Layer l's token-major K rows, for attention.
  kernels::TokenMajorTails tails(int layer) const {
    if (tails_from == capacity) return {};
    if (k_tails16.empty()) return {k_tails[layer].data(), tails_from, width};
    return {k_tails[layer].data(), tails_from, width, k_tails16[layer].data(), v_tails16[layer].data()};
  }

  int capacity;
  int width;       // kv_heads * head_dim
  int tails_from;  // rows [0, tails_from) keep K dimension-major in k (its dimension stride), the rest in k_tails
  int length = 0;  // tokens stored
  std::vector<std::vector<float>> k, k_tails, v;
  std::vector<std::vector<std::uint16_t>> k_tails16, v_tails16;  // rows from tails_from on, in bf16 (or none)
  // Per layer: the shared page prefix packed for attention, once, for the decode steps of its questions.
  std::vector<kernels::PackedKv> packed_prefix;
};

}  // namespace folio::engine
