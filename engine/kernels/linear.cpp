// f32 and bf16 linear layers on oneDNN matmul primitives, and the Linear facade. The weights are
// reordered once, at construction, into the layout the primitive prefers (format_tag::any); primitives
// are created once per row count and held, for row counts up to kChunk (larger inputs run in kChunk-row
// slices). The activation and the residual add are post-ops of the primitive (free in oneDNN). The int8
// layers are in linear_int8.cpp.
#include "engine/kernels/linear.hpp"

#include <dnnl.hpp>

#include <map>
#include <unordered_map>
#include <mutex>
#include <vector>

#include "common/error.hpp"
#include "engine/kernels/activations.hpp"
#include "engine/kernels/dnnl_context.hpp"
#include "engine/kernels/linear_impl.hpp"
#include "engine/kernels/scratch.hpp"
#include "engine/kernels/softmax.hpp"

namespace folio::engine::kernels {

namespace {
using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;
constexpr int kChunk = 512;
}  // namespace

namespace {

class FloatLinear final : public Linear::Impl {
 public:
  FloatLinear(std::span<const float> weight, int out, int in, std::span<const float> bias, Precision precision)
      : Impl(out, in, precision), has_bias_(!bias.empty()) {
    wdt_ = precision == Precision::BF16 ? dt::bf16 : dt::f32;
    const auto& eng = dnnl_engine();
    // Fix the weight layout from a representative M; every other M reuses it.
    auto pd = make_pd(kChunk, Epilogue{}, dnnl::memory::desc({in_, out_}, wdt_, tag::any));
    weights_desc_ = pd.weights_desc();
    dnnl::memory user(dnnl::memory::desc({in_, out_}, dt::f32, tag::ba), eng, const_cast<float*>(weight.data()));
    weights_ = dnnl::memory(weights_desc_, eng);
    dnnl::stream s(eng);
    dnnl::reorder(user, weights_).execute(s, user, weights_);
    if (!bias.empty()) {
      bias_ = dnnl::memory(dnnl::memory::desc({1, out_}, dt::f32, tag::ab), eng);
      std::copy(bias.begin(), bias.end(), static_cast<float*>(bias_.get_data_handle()));
    }
    s.wait();
  }

  std::size_t weight_bytes() const override {
    return static_cast<std::size_t>(in_) * out_ * (precision_ == Precision::BF16 ? 2 : 4);
  }

  void forward(const float* x, int m, float* y, Epilogue ep) override {
    const auto& eng = dnnl_engine();
    std::lock_guard lock(mutex_);
    dnnl::stream s(eng);
    for (int row = 0; row < m; row += kChunk) {
      const int rows = std::min(kChunk, m - row);
      Prim& p = primitive(rows, ep);
      dnnl::memory src(p.src_desc, eng, const_cast<float*>(x + static_cast<std::size_t>(row) * in_));
      dnnl::memory dst(p.dst_desc, eng, y + static_cast<std::size_t>(row) * out_);
      std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights_}, {DNNL_ARG_DST, dst}};
      if (bias_) args[DNNL_ARG_BIAS] = bias_;
      if (wdt_ == dt::bf16) {
        // bf16 weights want bf16 activations: convert the slice (kept per primitive, no allocation).
        dnnl::memory src_f32(dnnl::memory::desc({rows, in_}, dt::f32, tag::ab), eng,
                             const_cast<float*>(x + static_cast<std::size_t>(row) * in_));
        dnnl::reorder(p.to_bf16).execute(s, src_f32, p.src_bf16);
        args[DNNL_ARG_SRC] = p.src_bf16;
      }
      args[DNNL_ARG_SCRATCHPAD] = thread_scratchpad(p.scratchpad);
      p.matmul.execute(s, args);
    }
    s.wait();
  }


 private:
  bool has_bias_ = false;
  struct Prim {
    dnnl::matmul matmul;
    dnnl::memory::desc src_desc, dst_desc;
    dnnl::reorder to_bf16;
    dnnl::memory src_bf16;
    dnnl::memory::desc scratchpad;
  };

  dnnl::matmul::primitive_desc make_pd(int m, Epilogue ep, const dnnl::memory::desc& wdesc) const {
    const auto& eng = dnnl_engine();
    dnnl::memory::desc src({m, in_}, wdt_, tag::ab);
    dnnl::memory::desc dst({m, out_}, dt::f32, tag::ab);
    dnnl::primitive_attr attr = with_user_scratchpad();
    dnnl::post_ops po;
    if (ep.activation == Activation::GeluTanh) po.append_eltwise(1.f, dnnl::algorithm::eltwise_gelu_tanh, 0.f, 0.f);
    if (ep.activation == Activation::Silu) po.append_eltwise(1.f, dnnl::algorithm::eltwise_swish, 1.f, 0.f);
    if (ep.accumulate) po.append_sum(1.f);
    attr.set_post_ops(po);
    dnnl::matmul::desc d = has_bias_ ? dnnl::matmul::desc(src, wdesc, dnnl::memory::desc({1, out_}, dt::f32, tag::ab), dst)
                                     : dnnl::matmul::desc(src, wdesc, dst);
    return dnnl::matmul::primitive_desc(d, attr, eng);
  }

  Prim& primitive(int m, Epilogue ep) {
    const int key = m * 8 + static_cast<int>(ep.activation) * 2 + (ep.accumulate ? 1 : 0);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    auto pd = make_pd(m, ep, weights_desc_);
    Prim p{dnnl::matmul(pd), pd.src_desc(), pd.dst_desc(), {}, {}, pd.scratchpad_desc()};
    if (wdt_ == dt::bf16) {
      const auto& eng = dnnl_engine();
      p.src_bf16 = dnnl::memory(pd.src_desc(), eng);
      p.to_bf16 = dnnl::reorder(dnnl::memory(dnnl::memory::desc({m, in_}, dt::f32, tag::ab), eng, nullptr), p.src_bf16);
    }
    return cache_.emplace(key, std::move(p)).first->second;
  }

  dt wdt_ = dt::f32;
  dnnl::memory::desc weights_desc_;
  dnnl::memory weights_;
  dnnl::memory bias_;
  std::map<int, Prim> cache_;
  std::mutex mutex_;
};

}  // namespace

Linear::Impl::~Impl() = default;

void Linear::Impl::forward_mlp(const float* x, int m, Impl& second, MlpActivation act, float* y, Epilogue epilogue) {
  thread_local std::vector<float> hidden, gated;
  float* h = grown(hidden, static_cast<std::size_t>(m) * out_);
  forward(x, m, h, Epilogue{act == MlpActivation::GeluTanh ? Activation::GeluTanh : Activation::None, false});
  if (act == MlpActivation::SiluGate) {
    float* g = grown(gated, static_cast<std::size_t>(m) * (out_ / 2));
    silu_gate(h, m, out_ / 2, g);
    h = g;
  }
  second.forward(h, m, y, epilogue);
}

void Linear::Impl::greedy(const float* x, int m, std::span<const int> excluded, int* index, float* logprob) {
  thread_local std::vector<float> outputs;
  float* y = grown(outputs, static_cast<std::size_t>(m) * out_);
  forward(x, m, y, {});
  greedy_tokens(y, m, out_, index, logprob, excluded);
}

Linear::Linear(std::span<const float> weight, int out_features, int in_features, std::span<const float> bias,
               Precision precision, Int8Input int8_input) {
  if (static_cast<std::int64_t>(weight.size()) != static_cast<std::int64_t>(out_features) * in_features)
    throw Error(ErrorKind::Model, "linear weight has " + std::to_string(weight.size()) + " values, expected " +
                                      std::to_string(out_features) + "x" + std::to_string(in_features));
  if (!bias.empty() && static_cast<int>(bias.size()) != out_features)
    throw Error(ErrorKind::Model,
                "linear bias has " + std::to_string(bias.size()) + " values, expected " + std::to_string(out_features));
  if (precision == Precision::Int8) impl_ = make_int8_linear(weight, out_features, in_features, bias, int8_input);
  else impl_ = std::make_unique<FloatLinear>(weight, out_features, in_features, bias, precision);
}
Linear::~Linear() = default;
Linear::Linear(Linear&&) noexcept = default;
Linear& Linear::operator=(Linear&&) noexcept = default;

void Linear::forward(const float* x, int m, float* y, Epilogue epilogue) const {
  if (m > 0) impl_->forward(x, m, y, epilogue);
}
void Linear::forward_mlp(const float* x, int m, const Linear& second, MlpActivation act, float* y,
                         Epilogue second_epilogue) const {
  const int mid = act == MlpActivation::SiluGate ? impl_->out_ / 2 : impl_->out_;
  if (second.in_features() != mid || (act == MlpActivation::SiluGate && impl_->out_ % 2))
    throw Error(ErrorKind::Internal, "an MLP's second layer takes " + std::to_string(second.in_features()) +
                                         " inputs, its first gives " + std::to_string(mid));
  if (m > 0) impl_->forward_mlp(x, m, *second.impl_, act, y, second_epilogue);
}
void Linear::greedy(const float* x, int m, std::span<const int> excluded, int* index, float* logprob) const {
  if (m > 0) impl_->greedy(x, m, excluded, index, logprob);
}
int Linear::in_features() const { return impl_->in_; }
int Linear::out_features() const { return impl_->out_; }
Precision Linear::precision() const { return impl_->precision_; }
std::size_t Linear::weight_bytes() const { return impl_->weight_bytes(); }

}  // namespace folio::engine::kernels
