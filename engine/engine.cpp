#include "engine/engine.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "common/error.hpp"
#include "engine/kernels/bf16_speed.hpp"
#include "engine/kernels/softmax.hpp"
#include "engine/model/connector.hpp"
#include "engine/model/siglip_vision.hpp"
#include "engine/model/smollm_text.hpp"

namespace folio::engine {

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// Sets the OpenMP team size for the calling (owner) thread, for the duration of one engine call.
class ThreadScope {
 public:
  explicit ThreadScope(int threads) : previous_(omp_get_max_threads()) {
    if (threads > 0) omp_set_num_threads(threads);
  }
  ~ThreadScope() { omp_set_num_threads(previous_); }

 private:
  int previous_;
};

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

}  // namespace

kernels::Precision parse_precision(const std::string& name) {
  if (name == "fp32" || name == "f32") return kernels::Precision::F32;
  if (name == "bf16") return kernels::Precision::BF16;
  if (name == "int8") return kernels::Precision::Int8;
  throw Error(ErrorKind::Usage, "precision must be int8, bf16 or fp32, not '" + name + "'");
}

const char* to_string(kernels::Precision p) {
  switch (p) {
    case kernels::Precision::F32: return "fp32";
    case kernels::Precision::BF16: return "bf16";
    case kernels::Precision::Int8: return "int8";
  }
  return "?";
}

std::string precision_note(kernels::Precision requested, kernels::Precision running) {
  if (requested == running) return "";
  return std::string("--precision ") + to_string(requested) + " runs as " + to_string(running) +
         ": this CPU multiplies bf16 more slowly than f32, so fp32 is both faster and more accurate here";
}

class Engine::Impl {
 public:
  Impl(const std::filesystem::path& dir, const EngineOptions& o) : Impl(dir, o, open_model_folder(dir)) {}
  // The mapped checkpoint lives only while the layers are built: they keep their own prepared copies.
  Impl(const std::filesystem::path& dir, const EngineOptions& o, ModelFiles model)
      : Impl(dir, o, std::move(model), WeightFiles::open(dir)) {}
  Impl(const std::filesystem::path& dir, const EngineOptions& o, ModelFiles model, const WeightFiles& weights)
      : options(o),
        files(std::move(model)),
        tokenizer(text::Tokenizer::load(dir / "tokenizer.json")),
        prompts(text::PromptBuilder::load(dir, tokenizer, files.config.image_token_id, o.prompt_style)),
        precision(o.precision_fallback ? kernels::effective_precision(o.precision) : o.precision),
        vision(files.config.vision, weights, precision),
        connector(files.config, weights, precision),
        text(files.config.text, weights, precision) {
    if (tokenizer.vocab_size() > files.config.text.vocab_size)
      throw Error(ErrorKind::Model,
                  "the tokenizer has " + std::to_string(tokenizer.vocab_size()) + " tokens but the model's vocabulary is " +
                      std::to_string(files.config.text.vocab_size),
                  {dir.string()});
    for (int id : files.generation.eos_token_ids) stop.push_back(id);
    if (auto eou = tokenizer.token_id("<end_of_utterance>")) stop.push_back(*eou);
    // tokenizer_config.json's eos_token too, when the tokenizer has it (SmolVLM's is <end_of_utterance>).
    if (!files.tokenizer.eos_token.empty())
      if (auto eos = tokenizer.token_id(files.tokenizer.eos_token)) stop.push_back(*eos);
    std::sort(stop.begin(), stop.end());
    stop.erase(std::unique(stop.begin(), stop.end()), stop.end());
  }

  std::vector<float> merged_embeddings(const std::vector<int>& ids, const std::vector<float>& features) const {
    std::vector<float> x = text.embed(ids);
    const std::size_t d = files.config.text.hidden_size;
    const std::size_t slots = std::count(ids.begin(), ids.end(), files.config.image_token_id);
    if (slots * d != features.size())
      throw Error(ErrorKind::Input, "the prompt has " + std::to_string(slots) + " image tokens but the page has " +
                                        std::to_string(features.size() / d) + " image features");
    std::size_t next = 0;
    for (std::size_t i = 0; i < ids.size(); ++i)
      if (ids[i] == files.config.image_token_id) std::copy_n(features.data() + (next++) * d, d, x.data() + i * d);
    return x;
  }

  // Greedy decoding after a prefill whose last hidden row is `last`.
  Answer decode(KvCache& cache, std::vector<float> last, const GenerateOptions& o) const {
    Answer a;
    const auto t0 = Clock::now();
    const int d = files.config.text.hidden_size;
    a.stop_reason = "max_new_tokens";
    for (int step = 0; step < o.max_new_tokens; ++step) {
      if (o.cancel && o.cancel()) {
        a.stop_reason = "cancelled";
        break;
      }
      const auto [best, logprob] = choose(last.data() + last.size() - d, 1, o).front();
      a.token_ids.push_back(best);
      a.token_logprobs.push_back(logprob);
      if (is_stop(best)) {
        a.stop_reason = "eos";
        break;
      }
      if (step + 1 == o.max_new_tokens) break;
      if (cache.length + 1 > cache.capacity) break;
      last = text.embed({best});
      text.forward(last, 1, cache);
    }
    a.timings_ms["decode"] = ms_since(t0);
    a.text = answer_text(a.token_ids);
    return a;
  }

  bool is_stop(int id) const { return std::binary_search(stop.begin(), stop.end(), id); }

  // The greedy token of each of `rows` rows of hidden state and its log-probability; with ignore_eos the
  // end tokens are never chosen (fixed-length replays).
  std::vector<std::pair<int, float>> choose(const float* hidden, int rows, const GenerateOptions& o) const {
    std::vector<int> token(rows);
    std::vector<float> logprob(rows);
    text.greedy(hidden, rows, o.ignore_eos ? std::span<const int>(stop) : std::span<const int>(), token.data(),
                logprob.data());
    std::vector<std::pair<int, float>> out(rows);
    for (int r = 0; r < rows; ++r) out[r] = {token[r], logprob[r]};
    return out;
  }

  std::string answer_text(const std::vector<int>& ids) const {
    std::vector<int> shown;
    for (int id : ids)
      if (!is_stop(id)) shown.push_back(id);
    return trim(tokenizer.decode(shown, /*skip_special_tokens=*/true));
  }

  int capacity_for(std::size_t prompt, int max_new) const {
    return static_cast<int>(std::min<std::size_t>(prompt + max_new + 1, files.config.text.max_position_embeddings));
  }
  void check_length(std::size_t prompt) const {
    if (prompt >= static_cast<std::size_t>(files.config.text.max_position_embeddings))
      throw Error(ErrorKind::Input, "the prompt has " + std::to_string(prompt) + " tokens; the model reads at most " +
                                        std::to_string(files.config.text.max_position_embeddings));
  }

  EngineOptions options;
  ModelFiles files;
  text::Tokenizer tokenizer;
  text::PromptBuilder prompts;
  kernels::Precision precision;  // what the layers run in (bf16 may run as f32: kernels/bf16_speed.hpp)
  VisionEncoder vision;
  Connector connector;
  TextDecoder text;
  std::vector<int> stop;
};

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

std::unique_ptr<Engine> Engine::load(const std::filesystem::path& dir, const EngineOptions& options) {
  ThreadScope threads(options.threads);
  return std::unique_ptr<Engine>(new Engine(std::make_unique<Impl>(dir, options)));
}

const ModelFiles& Engine::model() const { return impl_->files; }
const text::Tokenizer& Engine::tokenizer() const { return impl_->tokenizer; }
const text::PromptBuilder& Engine::prompts() const { return impl_->prompts; }
std::vector<int> Engine::stop_ids() const { return impl_->stop; }
kernels::Precision Engine::precision() const { return impl_->precision; }

std::vector<float> Engine::vision(const float* pixel_values, int frames) const {
  ThreadScope threads(impl_->options.threads);
  return impl_->vision.forward(pixel_values, frames);
}

std::vector<float> Engine::connector(const float* vision, int frames) const {
  ThreadScope threads(impl_->options.threads);
  return impl_->connector.forward(vision, frames);
}

std::vector<float> Engine::pixel_shuffle(const float* vision_frame) const { return impl_->connector.shuffle(vision_frame); }

PageEncoding Engine::encode_page(const float* pixel_values, int frames, int rows, int cols) const {
  if (frames != rows * cols + 1)
    throw Error(ErrorKind::Input, std::to_string(frames) + " frames do not make " + std::to_string(rows) + " x " +
                                      std::to_string(cols) + " tiles plus a global image");
  ThreadScope threads(impl_->options.threads);
  PageEncoding p;
  p.rows = rows;
  p.cols = cols;
  p.frames = frames;
  const auto t0 = Clock::now();
  const auto v = impl_->vision.forward(pixel_values, frames);
  p.timings_ms["vision"] = ms_since(t0);
  const auto t1 = Clock::now();
  p.image_features = impl_->connector.forward(v.data(), frames);
  p.timings_ms["connector"] = ms_since(t1);
  return p;
}

PrefillResult Engine::prefill(const std::vector<int>& ids, const std::vector<float>& features) const {
  ThreadScope threads(impl_->options.threads);
  impl_->check_length(ids.size());
  PrefillResult r;
  r.merged_embeddings = impl_->merged_embeddings(ids, features);
  std::vector<float> x = r.merged_embeddings;
  KvCache cache = impl_->text.new_cache(static_cast<int>(ids.size()));
  impl_->text.forward(x, static_cast<int>(ids.size()), cache, &r.hidden_last);
  std::vector<float> normed;
  r.logits_last = impl_->text.logits(x.data() + x.size() - impl_->files.config.text.hidden_size, &normed);
  r.hidden_last.push_back(normed);
  return r;
}

Answer Engine::generate(const std::vector<int>& ids, const std::vector<float>& features, const GenerateOptions& o) const {
  ThreadScope threads(impl_->options.threads);
  impl_->check_length(ids.size());
  const auto t0 = Clock::now();
  std::vector<float> x = impl_->merged_embeddings(ids, features);
  KvCache cache = impl_->text.new_cache(impl_->capacity_for(ids.size(), o.max_new_tokens));
  impl_->text.forward(x, static_cast<int>(ids.size()), cache);
  const double prefill_ms = ms_since(t0);
  Answer a = impl_->decode(cache, std::move(x), o);
  a.timings_ms["prefill"] = prefill_ms;
  return a;
}

std::vector<Answer> Engine::answer(const PageEncoding& page, std::span<const std::string> questions,
                                   const GenerateOptions& o) const {
  ThreadScope threads(impl_->options.threads);
  std::vector<Answer> out;
  if (questions.empty()) return out;
  const text::ImageLayout layout{page.rows, page.cols, impl_->files.config.tokens_per_tile()};
  std::vector<text::Prompt> prompts;
  std::size_t longest = 0;
  for (const auto& q : questions) {
    prompts.push_back(impl_->prompts.build(q, layout));
    impl_->check_length(prompts.back().ids.size());
    longest = std::max(longest, prompts.back().ids.size());
  }
  // The page prefix once. Every question then gets a tail of its own in the same cache, after the
  // prefix: its suffix and its answer. All suffixes are prefilled together, and all questions are
  // decoded together, one row each, so one read of the weights serves every question per step.
  const auto t0 = Clock::now();
  const int P = static_cast<int>(prompts[0].prefix_length);
  const std::vector<int> prefix(prompts[0].ids.begin(), prompts[0].ids.begin() + P);
  for (const auto& p : prompts)
    if (static_cast<int>(p.prefix_length) != P || !std::equal(prefix.begin(), prefix.end(), p.ids.begin()))
      throw Error(ErrorKind::Internal, "questions of one page do not share the page prefix");
  const int Q = static_cast<int>(prompts.size());
  const int max_positions = impl_->files.config.text.max_position_embeddings;
  int tail = 0;
  for (const auto& p : prompts) tail = std::max(tail, static_cast<int>(p.ids.size()) - P + o.max_new_tokens);
  tail = std::min(tail, max_positions - P);
  KvCache cache = impl_->text.new_cache(P + Q * tail, P);
  std::vector<float> x = impl_->merged_embeddings(prefix, page.image_features);
  impl_->text.forward(x, P, cache);
  const double prefix_ms = ms_since(t0);

  const auto t1 = Clock::now();
  TextDecoder::Placement place;
  std::vector<int> suffix_ids, lengths(Q), last_row(Q);
  for (int q = 0; q < Q; ++q) {
    const auto& ids = prompts[q].ids;
    lengths[q] = static_cast<int>(ids.size()) - P;
    for (int i = 0; i < lengths[q]; ++i) {
      suffix_ids.push_back(ids[P + i]);
      place.positions.push_back(P + i);
      place.slots.push_back(P + q * tail + i);
      place.ranges.push_back({P, P + q * tail, i + 1});
    }
    last_row[q] = static_cast<int>(suffix_ids.size()) - 1;
  }
  std::vector<float> s = impl_->text.embed(suffix_ids);
  impl_->text.forward(s, place, cache);
  const int d = impl_->files.config.text.hidden_size;
  std::vector<float> last(static_cast<std::size_t>(Q) * d);
  for (int q = 0; q < Q; ++q) std::copy_n(s.data() + static_cast<std::size_t>(last_row[q]) * d, d, last.data() + q * d);
  const double suffix_ms = ms_since(t1);

  const auto t2 = Clock::now();
  out.assign(Q, Answer{});
  for (auto& a : out) a.stop_reason = "max_new_tokens";
  std::vector<int> active(Q);
  for (int q = 0; q < Q; ++q) active[q] = q;
  while (!active.empty()) {
    const auto chosen = impl_->choose(last.data(), static_cast<int>(active.size()), o);
    const bool cancelled = o.cancel && o.cancel();
    std::vector<int> next_active, next_ids;
    for (std::size_t r = 0; r < active.size(); ++r) {
      Answer& a = out[active[r]];
      if (cancelled) {
        a.stop_reason = "cancelled";
        continue;
      }
      const auto [best, logprob] = chosen[r];
      a.token_ids.push_back(best);
      a.token_logprobs.push_back(logprob);
      if (impl_->is_stop(best)) {
        a.stop_reason = "eos";
        continue;
      }
      const int q = active[r];
      const int fed = lengths[q] + static_cast<int>(a.token_ids.size());  // tokens of this tail once `best` is fed
      if (static_cast<int>(a.token_ids.size()) >= o.max_new_tokens || fed > tail) continue;
      next_active.push_back(q);
      next_ids.push_back(best);
    }
    if (next_active.empty()) break;
    TextDecoder::Placement step;
    for (int q : next_active) {
      const int at = lengths[q] + static_cast<int>(out[q].token_ids.size()) - 1;  // index of `best` in the tail
      step.positions.push_back(P + at);
      step.slots.push_back(P + q * tail + at);
      step.ranges.push_back({P, P + q * tail, at + 1});
    }
    last = impl_->text.embed(next_ids);
    impl_->text.forward(last, step, cache);
    active = std::move(next_active);
  }
  const double decode_ms = ms_since(t2);
  for (int q = 0; q < Q; ++q) {
    Answer& a = out[q];
    a.text = impl_->answer_text(a.token_ids);
    a.timings_ms["prefill_prefix"] = q == 0 ? prefix_ms : 0.0;
    a.timings_ms["prefill_questions"] = q == 0 ? suffix_ms : 0.0;
    a.timings_ms["decode_batch"] = q == 0 ? decode_ms : 0.0;
  }
  return out;
}

}  // namespace folio::engine
