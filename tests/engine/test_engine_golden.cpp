// The fp32 engine against HF transformers' own tensors for every case in ../shared/reference/tiny-a/.
#include <boost/test/unit_test.hpp>

#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "engine/engine.hpp"
#include "engine/kernels/bf16_speed.hpp"
#include "engine/io/safetensors.hpp"
#include "support/paths.hpp"

namespace fs = std::filesystem;
using namespace folio::engine;

namespace {

fs::path checkpoint() { return folio::test::reference_dir() / "tiny-a" / "checkpoint"; }

std::vector<fs::path> golden_cases() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(folio::test::reference_dir() / "tiny-a" / "cases"))
    if (fs::exists(e.path() / "golden.json")) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

struct Golden {
  nlohmann::json json;
  SafetensorsFile tensors;
  explicit Golden(const fs::path& dir)
      : json([&] {
          std::ifstream in(dir / "golden.json");
          return nlohmann::json::parse(in);
        }()),
        tensors(dir / "golden.safetensors") {}
  std::vector<float> f32(const std::string& name) const { return to_f32(tensors.at(name)); }
  std::vector<int> ids(const std::string& name) const {
    const auto& t = tensors.at(name);
    const auto* p = reinterpret_cast<const std::int64_t*>(t.bytes.data());
    return std::vector<int>(p, p + t.numel());
  }
  // pixel_values from the u8 tiles, by the formula golden.json documents.
  std::vector<float> pixel_values() const {
    const auto& t = tensors.at("pixel_values_u8");
    const auto* p = reinterpret_cast<const std::uint8_t*>(t.bytes.data());
    std::vector<float> out(t.numel());
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = (static_cast<float>(p[i] * (1.0 / 255.0)) - 0.5f) / 0.5f;
    return out;
  }
  int frames() const { return static_cast<int>(tensors.at("pixel_values_u8").shape[0]); }
};

// max |a - b| <= atol + rtol * |b|, elementwise, with the worst offender reported.
void check_close(const std::vector<float>& a, const std::vector<float>& b, double atol, double rtol, const std::string& what) {
  BOOST_TEST_REQUIRE(a.size() == b.size(), what << ": size " << a.size() << " vs " << b.size());
  double worst = 0;
  std::size_t at = 0;
  bool ok = true;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double err = std::fabs(static_cast<double>(a[i]) - b[i]);
    if (err > atol + rtol * std::fabs(b[i])) ok = false;
    if (err > worst) {
      worst = err;
      at = i;
    }
  }
  BOOST_TEST(ok, what << ": max |diff| " << worst << " at " << at << " (" << a[at] << " vs " << b[at] << ")");
}

const Engine& fp32_engine() {
  static const auto engine = Engine::load(checkpoint(), EngineOptions{kernels::Precision::F32, 2, text::PromptStyle::Chat});
  return *engine;
}


// float32 to IEEE half, round to nearest even (subnormals included): how a publisher's F16 export rounds.
std::uint16_t to_f16(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t sign = (x >> 16) & 0x8000u, e32 = (x >> 23) & 0xffu;
  std::uint32_t mant = x & 0x7fffffu;
  if (e32 == 0xff) return static_cast<std::uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0u));
  const int e = static_cast<int>(e32) - 127 + 15;
  if (e >= 31) return static_cast<std::uint16_t>(sign | 0x7c00u);
  std::uint32_t half, rem, mid;
  if (e <= 0) {  // a subnormal half: the significand shifted right, in units of 2^-24
    if (e < -10) return static_cast<std::uint16_t>(sign);
    mant |= 0x800000u;
    const int shift = 14 - e;
    half = mant >> shift;
    rem = mant & ((1u << shift) - 1);
    mid = 1u << (shift - 1);
  } else {
    half = static_cast<std::uint32_t>(e) << 10 | mant >> 13;
    rem = mant & 0x1fffu;
    mid = 0x1000u;
  }
  if (rem > mid || (rem == mid && (half & 1))) ++half;  // a carry into the exponent is still right
  return static_cast<std::uint16_t>(sign | half);
}

// float32 to bfloat16, round to nearest even, as torch's .to(torch.bfloat16) does.
std::uint16_t to_bf16(float f) {
  const std::uint32_t b = std::bit_cast<std::uint32_t>(f);
  return static_cast<std::uint16_t>((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

// A copy of the reference checkpoint folder with every tensor's values passed through `values` (given the
// tensor's index) and stored in `dtype`.
template <typename F>
void write_checkpoint_copy(const fs::path& to, DType dtype, F&& values) {
  for (const auto& e : fs::directory_iterator(checkpoint()))
    if (e.path().extension() != ".safetensors") fs::copy(e.path(), to / e.path().filename());
  const SafetensorsFile f32(checkpoint() / "model.safetensors");
  std::vector<TensorSpec> specs;
  for (const auto& t : f32.tensors()) specs.push_back({t.name, dtype, t.shape});
  write_safetensors(to / "model.safetensors", specs, [&](std::size_t i, std::span<std::byte> bytes) {
    const std::vector<float> v = values(i, to_f32(f32.tensors()[i]));
    if (dtype == DType::F32) {
      std::memcpy(bytes.data(), v.data(), v.size() * 4);
      return;
    }
    for (std::size_t k = 0; k < v.size(); ++k) {
      const std::uint16_t h = dtype == DType::F16 ? to_f16(v[k]) : to_bf16(v[k]);
      std::memcpy(bytes.data() + 2 * k, &h, 2);
    }
  });
}

// Every tensor stored in `dtype` (BF16 or F16).
void write_half_copy(const fs::path& to, DType dtype) {
  write_checkpoint_copy(to, dtype, [](std::size_t, std::vector<float> v) { return v; });
}

// Another realisation of the same random checkpoint: each tensor's values shuffled among its own elements
// (the same distribution, norm weights around 1 included; new draws for the rounding to land on).
void write_shuffled_copy(const fs::path& to, unsigned seed) {
  write_checkpoint_copy(to, DType::F32, [seed](std::size_t i, std::vector<float> v) {
    std::mt19937 rng(seed * 7919u + static_cast<unsigned>(i));
    std::shuffle(v.begin(), v.end(), rng);
    return v;
  });
}

double relative_l2(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(engine_golden)

BOOST_AUTO_TEST_CASE(every_case_matches_transformers) {
  const Engine& engine = fp32_engine();
  const auto& cfg = engine.model().config;
  const auto cases = golden_cases();
  BOOST_TEST_REQUIRE(!cases.empty());
  for (const auto& dir : cases) {
    BOOST_TEST_CONTEXT(dir.filename().string()) {
      const Golden g(dir);
      const auto pv = g.pixel_values();
      const int frames = g.frames();
      const auto vision = engine.vision(pv.data(), frames);
      const std::size_t frame_out = static_cast<std::size_t>(cfg.vision.num_patches()) * cfg.vision.hidden_size;
      check_close(std::vector<float>(vision.begin(), vision.begin() + frame_out), g.f32("vision_last_hidden_tile0"), 1e-4, 1e-4,
                  "vision tile 0");
      check_close(engine.pixel_shuffle(vision.data()), g.f32("connector_in_shuffled_tile0"), 1e-4, 1e-4, "pixel shuffle");
      const auto features = engine.connector(vision.data(), frames);
      check_close(features, g.f32("connector_out"), 1e-4, 1e-4, "connector");

      const auto ids = g.ids("input_ids");
      const auto r = engine.prefill(ids, features);
      check_close(r.merged_embeddings, g.f32("inputs_embeds_merged"), 1e-4, 1e-4, "merged embeddings");
      // Golden rows: embeddings, after each layer but the last, then after the final norm.
      const auto hidden = g.f32("hidden_last_pos_per_layer");
      const std::size_t d = cfg.text.hidden_size, rows = hidden.size() / d;
      for (std::size_t k = 0; k + 1 < rows; ++k)
        check_close(r.hidden_last[k], std::vector<float>(hidden.begin() + k * d, hidden.begin() + (k + 1) * d), 2e-4, 1e-3,
                    "hidden row " + std::to_string(k));
      check_close(r.hidden_last.back(), std::vector<float>(hidden.end() - d, hidden.end()), 2e-4, 1e-3, "final norm");
      check_close(r.logits_last, g.f32("logits_last"), 1e-3, 1e-3, "logits");
      const int argmax = static_cast<int>(std::max_element(r.logits_last.begin(), r.logits_last.end()) - r.logits_last.begin());
      BOOST_TEST(argmax == g.ids("argmax_last")[0]);

      const auto golden_tokens = g.ids("generated_ids");
      GenerateOptions o;
      o.max_new_tokens = static_cast<int>(golden_tokens.size());
      o.ignore_eos = true;  // the golden run masked EOS for all its steps
      const Answer a = engine.generate(ids, features, o);
      BOOST_TEST(a.token_ids == golden_tokens);
      BOOST_TEST(a.token_logprobs.size() == golden_tokens.size());
      for (float lp : a.token_logprobs) BOOST_TEST(lp <= 0.0f);
    }
  }
}

// The page path: the prefix is prefilled once and each question's suffix on top; answers equal a
// whole-prompt generation, whatever the order of questions.
BOOST_AUTO_TEST_CASE(shared_prefix_answers_equal_whole_prompt_generation) {
  const Engine& engine = fp32_engine();
  const auto dir = golden_cases().front();
  const Golden g(dir);
  const auto pv = g.pixel_values();
  const int rows = g.json["processor"]["rows"].get<int>(), cols = g.json["processor"]["cols"].get<int>();
  const PageEncoding page = engine.encode_page(pv.data(), g.frames(), rows, cols);
  const std::vector<std::string> questions{"What is the total?", "Who is the vendor?", "What is the total?"};
  GenerateOptions o;
  o.max_new_tokens = 6;
  o.ignore_eos = true;
  const auto answers = engine.answer(page, questions, o);
  BOOST_TEST_REQUIRE(answers.size() == 3u);
  for (std::size_t i = 0; i < questions.size(); ++i) {
    const auto prompt = engine.prompts().build(questions[i], {rows, cols, engine.model().config.tokens_per_tile()});
    const Answer whole = engine.generate(prompt.ids, page.image_features, o);
    BOOST_TEST(answers[i].token_ids == whole.token_ids);
    for (std::size_t k = 0; k < whole.token_logprobs.size(); ++k)
      BOOST_TEST(std::fabs(answers[i].token_logprobs[k] - whole.token_logprobs[k]) < 1e-4);
  }
  BOOST_TEST(answers[0].token_ids == answers[2].token_ids);
  // Cancellation stops before the first token.
  o.cancel = [] { return true; };
  const auto cancelled = engine.answer(page, std::vector<std::string>{"x?"}, o);
  BOOST_TEST(cancelled[0].stop_reason == "cancelled");
  BOOST_TEST(cancelled[0].token_ids.empty());
}

// The fast engines against transformers' fp32 goldens: the accuracy gates int8 and bf16 must pass.
void check_precision_gate(kernels::Precision precision, double max_rel_l2, int min_agreeing_tokens) {
  // The requested precision's own kernels, even where bf16 would run as fp32 for speed.
  const auto engine = Engine::load(checkpoint(), EngineOptions{precision, 2, text::PromptStyle::Chat, false});
  BOOST_TEST((engine->precision() == precision));
  for (const auto& dir : golden_cases()) {
    BOOST_TEST_CONTEXT(dir.filename().string() << " " << to_string(precision)) {
      const Golden g(dir);
      const auto pv = g.pixel_values();
      const auto vision = engine->vision(pv.data(), g.frames());
      const auto features = engine->connector(vision.data(), g.frames());
      const auto ids = g.ids("input_ids");
      const auto r = engine->prefill(ids, features);
      const auto gold = g.f32("logits_last");
      BOOST_TEST_REQUIRE(r.logits_last.size() == gold.size());
      double num = 0, den = 0;
      for (std::size_t i = 0; i < gold.size(); ++i) {
        num += (r.logits_last[i] - gold[i]) * double(r.logits_last[i] - gold[i]);
        den += double(gold[i]) * gold[i];
      }
      const double rel = std::sqrt(num / den);
      BOOST_TEST_MESSAGE(dir.filename().string() << " " << to_string(precision) << ": logits relative L2 " << rel);
      BOOST_TEST(rel <= max_rel_l2);
      // Greedy continuation, step by step on transformers' own prefix (teacher forcing): a free-running
      // comparison would count every token after the first near-tie as wrong.
      const auto golden_tokens = g.ids("generated_ids");
      auto prompt = ids;
      int agree = 0;
      for (int token : golden_tokens) {
        const auto step = engine->prefill(prompt, features);
        const int argmax = static_cast<int>(std::max_element(step.logits_last.begin(), step.logits_last.end()) -
                                            step.logits_last.begin());
        agree += argmax == token;
        prompt.push_back(token);
      }
      BOOST_TEST(agree >= min_agreeing_tokens, agree << " of " << golden_tokens.size() << " tokens agree");
      // And free-running, for the record.
      GenerateOptions o;
      o.max_new_tokens = static_cast<int>(golden_tokens.size());
      o.ignore_eos = true;
      const Answer a = engine->generate(ids, features, o);
      int same = 0;
      while (same < static_cast<int>(a.token_ids.size()) && a.token_ids[same] == golden_tokens[same]) ++same;
      BOOST_TEST_MESSAGE("  teacher-forced agreement " << agree << "/16, free-running identical prefix " << same);
    }
  }
}

BOOST_AUTO_TEST_CASE(int8_engine_passes_its_accuracy_gate) { check_precision_gate(kernels::Precision::Int8, 3e-2, 12); }

// The gate above is one draw of the weights' rounding: on other realisations of the same checkpoint the
// int8 logits' error spreads (over 60 of them, docs/engine.md "Accuracy": mean 2.3%, 7% of the cases over
// 3%). Guard the spread, so that a change which only happens to pass on tiny-a's own draw shows here: these
// eight realisations' 24 cases average 2.22%, the worst 2.9% (2.15% with o at two planes); with one
// activation plane for gate|up and the connector in int8 (which put 26% of the 180 cases over 3%) they
// averaged 2.44%, the worst 3.4%.
BOOST_AUTO_TEST_CASE(int8_accuracy_holds_on_other_realisations_of_the_checkpoint) {
  double sum = 0, worst = 0;
  int n = 0;
  for (unsigned seed = 1; seed <= 8; ++seed) {
    folio::test::TempDir dir;
    write_shuffled_copy(dir.path(), seed);
    const auto f32 = Engine::load(dir.path(), EngineOptions{kernels::Precision::F32, 2, text::PromptStyle::Chat});
    const auto int8 = Engine::load(dir.path(), EngineOptions{kernels::Precision::Int8, 2, text::PromptStyle::Chat});
    for (const auto& c : golden_cases()) {
      const Golden g(c);
      const auto pv = g.pixel_values();
      const auto ids = g.ids("input_ids");
      const auto reference = f32->prefill(ids, f32->connector(f32->vision(pv.data(), g.frames()).data(), g.frames()));
      const auto quantised = int8->prefill(ids, int8->connector(int8->vision(pv.data(), g.frames()).data(), g.frames()));
      const double rel = relative_l2(quantised.logits_last, reference.logits_last);
      BOOST_TEST_MESSAGE("realisation " << seed << ", " << c.filename().string() << ": int8 logits relative L2 " << rel);
      sum += rel;
      worst = std::max(worst, rel);
      ++n;
    }
  }
  BOOST_TEST_MESSAGE("mean " << sum / n << ", worst " << worst);
  BOOST_TEST(sum / n <= 2.3e-2);
  BOOST_TEST(worst <= 3.2e-2);
}

BOOST_AUTO_TEST_CASE(bf16_engine_passes_its_accuracy_gate) { check_precision_gate(kernels::Precision::BF16, 1e-2, 14); }

BOOST_AUTO_TEST_CASE(bf16_runs_as_fp32_only_where_bf16_products_are_the_slower) {
  // The probe is the CPU's: bf16 runs in bf16 where its products pay off, else in fp32 (faster and more
  // accurate); int8 and fp32 always run as asked. The logits then match that precision's.
  const bool pays = kernels::bf16_products_pay_off();
  BOOST_TEST_MESSAGE("bf16 products " << (pays ? "pay off" : "are slower than f32") << " on this CPU");
  const auto bf16 = Engine::load(checkpoint(), EngineOptions{kernels::Precision::BF16, 2});
  BOOST_TEST((bf16->precision() == (pays ? kernels::Precision::BF16 : kernels::Precision::F32)));
  BOOST_TEST((kernels::effective_precision(kernels::Precision::Int8) == kernels::Precision::Int8));
  BOOST_TEST((kernels::effective_precision(kernels::Precision::F32) == kernels::Precision::F32));
  BOOST_TEST(precision_note(kernels::Precision::BF16, kernels::Precision::BF16).empty());
  BOOST_TEST(precision_note(kernels::Precision::BF16, kernels::Precision::F32).find("runs as fp32") != std::string::npos);
  const Golden g(golden_cases().front());
  const auto pv = g.pixel_values();
  const auto features = bf16->connector(bf16->vision(pv.data(), g.frames()).data(), g.frames());
  const auto logits = bf16->prefill(g.ids("input_ids"), features).logits_last;
  BOOST_TEST(relative_l2(logits, g.f32("logits_last")) < (pays ? 1e-2 : 1e-3));
}

// A checkpoint published in BF16 or F16 (the real SmolVLM ones are BF16) goes through the same load path:
// converted to f32 at load, the fp32 engine then runs on the rounded weights. Rounding each weight to 8
// (BF16) or 11 (F16) significant bits perturbs it by at most 2^-9 or 2^-12 relative, about 0.1% or
// 0.015% rms; through the layers these add up in quadrature, so the logits move by a few tenths of a
// percent for BF16 and about eight times less for F16 (measured on the invoice case: 0.6% and 0.09%).
// The bounds, 2% and 0.3% relative L2, leave about 3x over that.
BOOST_AUTO_TEST_CASE(bf16_and_f16_checkpoints_answer_like_the_f32_one) {
  const Engine& reference = fp32_engine();
  const Golden g(golden_cases().front());
  const auto pv = g.pixel_values();
  const auto ids = g.ids("input_ids");
  const auto ref_features = reference.connector(reference.vision(pv.data(), g.frames()).data(), g.frames());
  const auto ref_logits = reference.prefill(ids, ref_features).logits_last;
  GenerateOptions o;
  o.max_new_tokens = 16;
  o.ignore_eos = true;
  const auto ref_tokens = reference.generate(ids, ref_features, o).token_ids;
  std::vector<std::vector<int>> ref_prompts{ids};
  std::vector<std::vector<float>> ref_steps;
  for (int token : ref_tokens) {
    ref_steps.push_back(reference.prefill(ref_prompts.back(), ref_features).logits_last);
    ref_prompts.push_back(ref_prompts.back());
    ref_prompts.back().push_back(token);
  }
  for (const auto& [dtype, bound] : std::vector<std::pair<DType, double>>{{DType::BF16, 2e-2}, {DType::F16, 3e-3}}) {
    BOOST_TEST_CONTEXT(dtype_name(dtype)) {
      folio::test::TempDir dir;
      write_half_copy(dir.path(), dtype);
      {
        const SafetensorsFile copy(dir.path() / "model.safetensors");
        for (const auto& t : copy.tensors()) BOOST_TEST_REQUIRE((t.dtype == dtype), t.name);
      }
      const auto engine = Engine::load(dir.path(), EngineOptions{kernels::Precision::F32, 2, text::PromptStyle::Chat});
      const auto features = engine->connector(engine->vision(pv.data(), g.frames()).data(), g.frames());
      const double feat_rel = relative_l2(features, ref_features);
      const auto logits = engine->prefill(ids, features).logits_last;
      BOOST_TEST_REQUIRE(logits.size() == ref_logits.size());
      const double rel = relative_l2(logits, ref_logits);
      BOOST_TEST_MESSAGE(dtype_name(dtype) << " weights: connector output relative L2 " << feat_rel << ", logits " << rel);
      BOOST_TEST(rel > 0.0);  // the weights really were rounded
      BOOST_TEST(rel <= bound);
      BOOST_TEST(feat_rel <= bound);
      // Greedy tokens on the fp32 engine's own continuation (teacher forcing: a free-running comparison
      // would count every token after the first near-tie as wrong). A token may differ only where the
      // fp32 engine's own choice led by less than twice the step's largest logit change, i.e. where the
      // rounding could reach a near-tie; and at most 2 of the 16 may.
      int agree = 0;
      for (std::size_t k = 0; k < ref_tokens.size(); ++k) {
        const auto step = engine->prefill(ref_prompts[k], features).logits_last;
        const int mine = static_cast<int>(std::max_element(step.begin(), step.end()) - step.begin());
        if (mine == ref_tokens[k]) {
          ++agree;
          continue;
        }
        double reach = 0;
        for (std::size_t i = 0; i < step.size(); ++i) reach = std::max(reach, std::fabs(double(step[i]) - ref_steps[k][i]));
        const double lead = double(ref_steps[k][ref_tokens[k]]) - ref_steps[k][mine];
        BOOST_TEST(lead <= 2 * reach, "step " << k << ": token " << mine << " instead of " << ref_tokens[k] << ", which led by "
                                               << lead << " (largest logit change " << reach << ")");
      }
      BOOST_TEST(agree >= 14);
      const auto free = engine->generate(ids, features, o).token_ids;
      int same = 0;
      while (same < static_cast<int>(free.size()) && free[same] == ref_tokens[same]) ++same;
      BOOST_TEST_MESSAGE("  teacher-forced agreement " << agree << "/16, free-running identical prefix " << same);
    }
  }
}

BOOST_AUTO_TEST_CASE(bad_model_input_is_a_clear_error) {
  const Engine& engine = fp32_engine();
  const auto& cfg = engine.model().config;
  std::vector<float> features(static_cast<std::size_t>(cfg.tokens_per_tile()) * cfg.text.hidden_size, 0.f);
  const std::vector<int> ids{1, 2, 3};  // no image tokens, one frame of features
  BOOST_CHECK_THROW(engine.prefill(ids, features), folio::Error);
  std::vector<int> too_long(cfg.text.max_position_embeddings + 1, 5);
  BOOST_CHECK_THROW(engine.prefill(too_long, {}), folio::Error);
  std::vector<float> pv(3 * 512 * 512 * 2);
  BOOST_CHECK_THROW(engine.encode_page(pv.data(), 2, 2, 2), folio::Error);
}

BOOST_AUTO_TEST_SUITE_END()
