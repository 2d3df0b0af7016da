#include "engine/throughput.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <random>
#include <utility>
#include <vector>

#include "engine/kernels/bf16_speed.hpp"
#include "engine/kernels/softmax.hpp"
#include "engine/model/connector.hpp"
#include "engine/model/siglip_vision.hpp"
#include "engine/model/smollm_text.hpp"

namespace folio::engine {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

Timing min_and_median(std::vector<double> s) {
  if (s.empty()) return {};
  std::sort(s.begin(), s.end());
  return {s.front(), s[s.size() / 2]};
}

Timing timed(int repetitions, const std::function<void()>& f) {
  std::vector<double> s;
  for (int i = 0; i < repetitions; ++i) {
    const auto t0 = Clock::now();
    f();
    s.push_back(seconds_since(t0));
  }
  return min_and_median(std::move(s));
}

// Two measurements whose ratio is reported, their repetitions alternating (a, b, a, b, ...): on a shared
// machine a slow minute then weighs on both alike, where one after the other it could fall on either.
std::pair<Timing, Timing> timed_alternating(int repetitions, const std::function<void()>& a,
                                            const std::function<void()>& b) {
  std::vector<double> sa, sb;
  for (int i = 0; i < repetitions; ++i) {
    auto t0 = Clock::now();
    a();
    sa.push_back(seconds_since(t0));
    t0 = Clock::now();
    b();
    sb.push_back(seconds_since(t0));
  }
  return {min_and_median(std::move(sa)), min_and_median(std::move(sb))};
}

// Multiply-adds x 2 of one frame through the encoder and connector: linear layers plus attention.
double vision_ops_per_frame(const ModelConfig& c) {
  const double np = c.vision.num_patches(), d = c.vision.hidden_size, i = c.vision.intermediate_size,
               p = c.vision.patch_size, L = c.vision.num_layers;
  const double linear = 2 * np * (3 * p * p * d + L * (4 * d * d + 2 * d * i));
  const double attention = L * 4 * np * np * d;
  const double connector = 2 * (np / (c.scale_factor * c.scale_factor)) * c.connector_in() * c.text.hidden_size;
  return linear + attention + connector;
}

// Of a causal prefill of n tokens (lm_head once, for the last row).
double prefill_ops(const TextConfig& t, double n) {
  const double d = t.hidden_size, q = double(t.num_heads) * t.head_dim, kv = double(t.num_kv_heads) * t.head_dim,
               it = t.intermediate_size;
  const double per_token = 2 * t.num_layers * (d * (q + 2 * kv) + q * d + 3 * d * it);
  const double attention = t.num_layers * 4 * (n * n / 2) * q;
  return per_token * n + attention + 2 * d * t.vocab_size;
}

}  // namespace

ThroughputResult measure_throughput(const ModelConfig& config, const WeightFiles& weights, const ThroughputOptions& o) {
  const int previous_threads = omp_get_max_threads();
  if (o.threads > 0) omp_set_num_threads(o.threads);
  ThroughputResult r;
  const auto t_load = Clock::now();
  const kernels::Precision precision = kernels::effective_precision(o.precision);
  r.precision = precision;
  const VisionEncoder vision(config.vision, weights, precision);
  const Connector connector(config, weights, precision);
  const TextDecoder text(config.text, weights, precision);
  r.load_s = seconds_since(t_load);
  r.weight_bytes = vision.weight_bytes() + connector.weight_bytes() + text.weight_bytes();
  r.decode_bytes = text.decode_bytes();
  r.page_frames = o.page_frames;
  r.questions = o.questions;

  std::mt19937 rng(3);
  // Vision: normalised pixels are roughly N(0, 1).
  const int T = config.vision.image_size;
  std::vector<float> pixels(static_cast<std::size_t>(o.page_frames) * 3 * T * T);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto& p : pixels) p = normal(rng);
  std::vector<float> features;
  if (o.vision) r.vision_s = timed(o.repetitions, [&] {
    const auto v = vision.forward(pixels.data(), o.page_frames);
    features = connector.forward(v.data(), o.page_frames);
  });
  r.vision_gop = vision_ops_per_frame(config) * o.page_frames / 1e9;

  // Prefill: the page's prompt (image tokens and a few text tokens); the ids are random, the work the same.
  const int Q = o.questions, tail = o.question_tokens + std::max(o.answer_tokens, o.decode_steps) + 1;
  r.prefill_tokens = std::min(o.page_frames * config.tokens_per_tile() + 24,
                              config.text.max_position_embeddings - tail - 1);
  std::uniform_int_distribution<int> token(0, config.text.vocab_size - 1);
  std::vector<int> ids(r.prefill_tokens);
  for (auto& id : ids) id = token(rng);
  const int P = r.prefill_tokens;
  auto cache = text.new_cache(P + Q * tail, P);
  r.prefill_s = timed(o.prefill ? o.repetitions : (o.decode ? 1 : 0), [&] {
    cache.length = 0;
    auto x = text.embed(ids);
    text.forward(x, P, cache);
    text.logits(x.data() + (x.size() - config.text.hidden_size));
  });
  r.prefill_gop = prefill_ops(config.text, P) / 1e9;

  // Each question: its suffix rows after the prefix, in a tail of its own, then one row per decode step.
  auto place = [&](TextDecoder::Placement& p, std::vector<int>& ids, int q, int at) {
    ids.push_back(token(rng));
    p.positions.push_back(P + at);
    p.slots.push_back(P + q * tail + at);
    p.ranges.push_back({P, P + q * tail, at + 1});
  };
  auto suffixes = [&](int questions) {
    TextDecoder::Placement p;
    std::vector<int> sids;
    for (int q = 0; q < questions; ++q)
      for (int i = 0; i < o.question_tokens; ++i) place(p, sids, q, i);
    auto x = text.embed(sids);
    text.forward(x, p, cache);
  };
  auto steps = [&](int questions, int count) {
    for (int s = 0; s < count; ++s) {
      TextDecoder::Placement p;
      std::vector<int> sids;
      for (int q = 0; q < questions; ++q) place(p, sids, q, o.question_tokens + s);
      auto x = text.embed(sids);
      text.forward(x, p, cache);
      // The step's choice of tokens too, as the engine's decoding makes it.
      std::vector<int> chosen(questions);
      std::vector<float> logprob(questions);
      text.greedy(x.data(), questions, {}, chosen.data(), logprob.data());
    }
  };
  suffixes(Q);
  const int decode_reps = o.decode ? o.repetitions : 0;
  const auto [one, many] =
      timed_alternating(decode_reps, [&] { steps(1, o.decode_steps); }, [&] { steps(Q, o.decode_steps); });
  r.decode_step_1_s = {one.min / o.decode_steps, one.median / o.decode_steps};
  r.decode_step_n_s = {many.min / o.decode_steps, many.median / o.decode_steps};
  const auto suffix_s = timed(decode_reps, [&] { suffixes(Q); });
  r.page_s = r.vision_s.median + r.prefill_s.median + suffix_s.median + o.answer_tokens * r.decode_step_n_s.median;
  omp_set_num_threads(previous_threads);
  return r;
}

}  // namespace folio::engine
