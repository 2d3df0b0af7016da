#include "engine/throughput.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "engine/model/connector.hpp"
#include "engine/model/siglip_vision.hpp"
#include "engine/model/smollm_text.hpp"

namespace folio::engine {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

}  // namespace

ThroughputResult measure_throughput(const ModelConfig& config, const WeightFiles& weights, const ThroughputOptions& o) {
  const int previous_threads = omp_get_max_threads();
  if (o.threads > 0) omp_set_num_threads(o.threads);
  ThroughputResult r;
  const auto t_load = Clock::now();
  const VisionEncoder vision(config.vision, weights, o.precision);
  const Connector connector(config, weights, o.precision);
  const TextDecoder text(config.text, weights, o.precision);
  r.load_s = seconds_since(t_load);
  r.weight_bytes = vision.weight_bytes() + connector.weight_bytes() + text.weight_bytes();
  r.decode_bytes = text.decode_bytes();

  std::mt19937 rng(3);
  // Vision: normalised pixels are roughly N(0, 1).
  const int T = config.vision.image_size, frames = std::max(1, o.vision_frames);
  std::vector<float> pixels(static_cast<std::size_t>(frames) * 3 * T * T);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto& p : pixels) p = normal(rng);
  std::vector<double> vision_s, connector_s;
  std::vector<float> features;
  for (int i = 0; i < o.repetitions; ++i) {
    auto t0 = Clock::now();
    const auto v = vision.forward(pixels.data(), frames);
    vision_s.push_back(seconds_since(t0) / frames);
    t0 = Clock::now();
    features = connector.forward(v.data(), frames);
    connector_s.push_back(seconds_since(t0) / frames);
  }
  r.vision_ms_per_tile = median(vision_s) * 1e3;
  r.connector_ms_per_tile = median(connector_s) * 1e3;

  // Prefill: a page's prompt, embeddings of random ids (the image positions cost the same as text).
  const int page_frames = 4 * 4 + 1;
  r.prefill_tokens = o.prompt_tokens > 0 ? o.prompt_tokens : page_frames * config.tokens_per_tile() + 40;
  r.prefill_tokens = std::min(r.prefill_tokens, config.text.max_position_embeddings - o.decode_tokens - 1);
  std::uniform_int_distribution<int> token(0, config.text.vocab_size - 1);
  std::vector<int> ids(r.prefill_tokens);
  for (auto& id : ids) id = token(rng);
  auto cache = text.new_cache(r.prefill_tokens + o.decode_tokens + 1);
  std::vector<double> prefill_s, decode_s;
  for (int i = 0; i < o.repetitions; ++i) {
    cache.length = 0;
    auto x = text.embed(ids);
    const auto t0 = Clock::now();
    text.forward(x, r.prefill_tokens, cache);
    const auto logits = text.logits(x.data() + (x.size() - config.text.hidden_size));
    prefill_s.push_back(seconds_since(t0));
    // Decode: one token at a time on top of the prompt, greedy, with lm_head every step.
    int next = static_cast<int>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    for (int s = 0; s < o.decode_tokens; ++s) {
      const auto t1 = Clock::now();
      auto row = text.embed({next});
      text.forward(row, 1, cache);
      const auto l = text.logits(row.data());
      next = static_cast<int>(std::max_element(l.begin(), l.end()) - l.begin());
      decode_s.push_back(seconds_since(t1));
    }
  }
  r.prefill_tokens_per_s = r.prefill_tokens / median(prefill_s);
  r.decode_ms_per_token = median(decode_s) * 1e3;
  r.decode_tokens_per_s = 1e3 / r.decode_ms_per_token;
  r.page_s = (r.vision_ms_per_tile + r.connector_ms_per_tile) * page_frames / 1e3 + median(prefill_s) +
             8 * r.decode_ms_per_token / 1e3;
  omp_set_num_threads(previous_threads);
  return r;
}

}  // namespace folio::engine
