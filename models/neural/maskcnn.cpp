#include "models/neural/maskcnn.hpp"

#include <cmath>
#include <map>
#include <tuple>
#include <cstdlib>
#include <string>

#include "core/error.hpp"
#include "models/neural/cpu_kernels.hpp"

namespace ns::models::neural {
namespace {

// conv0 (stride 1, no padding) with a faster weight gradient. oneDNN's backward-weights for a
// convolution with 1 input channel and a 9x9 kernel is slow (41 ms of a ~170 ms step at 32x32,
// batch 256, 1 thread; bench/neural.md). The same gradient is a forward convolution with the
// batch as the channel dimension:
//   dW[c, i, :, :] = sum_b conv(x[b, i], dY[b, c]) = conv2d(x^T [Cin, B, H, W], dY^T [C, B, h, w])
// which oneDNN runs ~4x faster. Same math; only the float summation order differs.
struct Conv0Function : public torch::autograd::Function<Conv0Function> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight) {
    ctx->save_for_backward({x, weight});
    return torch::conv2d(x, weight);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor& weight = saved[1];
    const torch::Tensor& dy = grads[0];
    torch::Tensor dx, dw;
    if (ctx->needs_input_grad(0)) {  // only with a trainable input BatchNorm
      dx = std::get<0>(at::convolution_backward(dy, x, weight, c10::nullopt, {1, 1}, {0, 0},
                                                {1, 1}, false, {0, 0}, 1, {true, false, false}));
    }
    if (ctx->needs_input_grad(1)) {
      // dY^T [C, B, h, w] contiguous. From an NHWC dY ([B, h, w, C] in memory) this is the 2-D
      // transpose [B*h*w, C] -> [C, B*h*w], which ATen copies with its blocked transpose kernel;
      // dy.transpose(0, 1).contiguous() takes a strided 4-d copy ~3x slower (29 vs 9 ms at
      // 50x50, batch 256, 16 channels; bench/train_step.md). Same values either way.
      torch::Tensor dyt;
      if (dy.is_contiguous(torch::MemoryFormat::ChannelsLast) && !dy.is_contiguous()) {
        const auto B = dy.size(0), C = dy.size(1), h = dy.size(2), w = dy.size(3);
        dyt = dy.permute({0, 2, 3, 1}).reshape({B * h * w, C}).t().contiguous();
        dyt = dyt.view({C, B, h, w});
      } else {
        dyt = dy.transpose(0, 1).contiguous();
      }
      dw = torch::conv2d(x.transpose(0, 1).contiguous(), dyt)
               .transpose(0, 1)
               .contiguous(weight.suggest_memory_format());
    }
    return {dx, dw};
  }
};

// The tensors the loops of cpu_kernels.hpp take: float32 on CPU, every element once in memory.
bool dense_cpu_float(const torch::Tensor& t) {
  return t.device().is_cpu() && t.scalar_type() == torch::kFloat &&
         t.is_non_overlapping_and_dense();
}

// Runs kernel(in pointers..., out pointer, count) over chunks on ATen's intra-op threads.
template <class Kernel>
void parallel_elementwise(std::int64_t n, const Kernel& kernel) {
  at::parallel_for(0, n, 1 << 15, [&](std::int64_t begin, std::int64_t end) {
    kernel(begin, static_cast<std::size_t>(end - begin));
  });
}

// Softplus on CPU float32 through cpu_kernels.cpp (ATen 1.13's CPU softplus is slower: the
// `aten_softplus` variant of bench/train_step_bench). Backward uses the output alone:
// sigmoid(x) = 1 - exp(-softplus(x)).
struct SoftplusFunction : public torch::autograd::Function<SoftplusFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x) {
    torch::Tensor y = torch::empty_like(x);  // same strides: x is dense
    const float* in = x.data_ptr<float>();
    float* out = y.data_ptr<float>();
    parallel_elementwise(x.numel(), [&](std::int64_t i, std::size_t n) {
      softplus_forward(in + i, out + i, n);
    });
    ctx->save_for_backward({y});
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const torch::Tensor y = ctx->get_saved_variables()[0];
    torch::Tensor dy = grads[0];
    if (!dense_cpu_float(dy) || dy.strides() != y.strides()) dy = torch::empty_like(y).copy_(dy);
    torch::Tensor dx = torch::empty_like(y);
    const float* g = dy.data_ptr<float>();
    const float* out = y.data_ptr<float>();
    float* res = dx.data_ptr<float>();
    parallel_elementwise(y.numel(), [&](std::int64_t i, std::size_t n) {
      softplus_backward(g + i, out + i, res + i, n);
    });
    return {dx};
  }
};

// BatchNorm in training mode (batch statistics, running statistics updated), softplus and
// optionally average pooling, for channels-last float32 on CPU ([B, H, W, C] in memory).
// Forward reads x twice (moments; then normalize, softplus, pool) and writes only the (pooled)
// output; backward reads (dout, x) twice and writes dx once, recomputing the softplus input from
// x. ATen runs BatchNorm, softplus and pooling as separate kernels over full-size tensors, each
// with its own passes, and the pooling's gradient as a full-size tensor (bench/train_step.md).
struct BnSoftplusPoolFunction : public torch::autograd::Function<BnSoftplusPoolFunction> {
  static ChannelsLastShape shape_of(const torch::Tensor& x, std::int64_t pool) {
    return {static_cast<std::size_t>(x.size(0)), static_cast<std::size_t>(x.size(2)),
            static_cast<std::size_t>(x.size(3)), static_cast<std::size_t>(x.size(1)),
            static_cast<std::size_t>(pool)};
  }

  // Runs chunk(index, first image, end image) over one chunk of images per intra-op thread.
  template <class Chunk>
  static std::int64_t parallel_images(std::int64_t images, const Chunk& chunk) {
    const std::int64_t chunks = std::max<std::int64_t>(
        1, std::min<std::int64_t>(at::get_num_threads(), images));
    at::parallel_for(0, chunks, 1, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t k = b; k < e; ++k)
        chunk(k, images * k / chunks, images * (k + 1) / chunks);
    });
    return chunks;
  }

  // Two per-channel sums over all images: reduce(first image, end image, sums_a, sums_b) adds
  // one chunk's part into its own arrays; returns the totals, [0, C) and [C, 2C).
  template <class Reduce>
  static std::vector<double> channel_sums(std::int64_t images, std::int64_t C,
                                          const Reduce& reduce) {
    const std::int64_t max_chunks = std::max<std::int64_t>(1, at::get_num_threads());
    std::vector<double> part(static_cast<std::size_t>(max_chunks * 2 * C), 0.0);
    const std::int64_t chunks =
        parallel_images(images, [&](std::int64_t k, std::int64_t b0, std::int64_t b1) {
          double* sums = part.data() + k * 2 * C;
          reduce(b0, b1, sums, sums + C);
        });
    std::vector<double> total(static_cast<std::size_t>(2 * C), 0.0);
    for (std::int64_t k = 0; k < chunks; ++k)
      for (std::int64_t i = 0; i < 2 * C; ++i) total[i] += part[k * 2 * C + i];
    return total;
  }

  // avg_pool2d(softplus(x * scale + offset), pool), channels-last, in one pass.
  static torch::Tensor pooled_output(const torch::Tensor& x, std::int64_t pool, const float* scale,
                                     const float* offset) {
    const std::int64_t B = x.size(0);
    torch::Tensor out =
        torch::empty({B, x.size(1), x.size(2) / pool, x.size(3) / pool},
                     x.options().memory_format(torch::MemoryFormat::ChannelsLast));
    const ChannelsLastShape shape = shape_of(x, pool);
    const float* in = x.data_ptr<float>();
    float* o = out.data_ptr<float>();
    parallel_images(B, [&](std::int64_t, std::int64_t b0, std::int64_t b1) {
      bn_softplus_pool_forward(in, shape, static_cast<std::size_t>(b0),
                               static_cast<std::size_t>(b1), scale, offset, o);
    });
    return out;
  }

  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias,
                               torch::Tensor running_mean, torch::Tensor running_var,
                               double momentum, double eps, std::int64_t pool) {
    const std::int64_t B = x.size(0), C = x.size(1), rows = x.numel() / C;
    const std::int64_t per_image = rows / B;
    const float* in = x.data_ptr<float>();
    // Moments around the first row's values (less cancellation than raw sums of squares).
    std::vector<float> shift(in, in + C);
    const std::vector<double> moments =
        channel_sums(B, C, [&](std::int64_t b0, std::int64_t b1, double* sum, double* sumsq) {
          channel_moments(in + b0 * per_image * C, static_cast<std::size_t>((b1 - b0) * per_image),
                          static_cast<std::size_t>(C), shift.data(), sum, sumsq);
        });
    auto stat = torch::empty({4, C}, x.options());  // mean, invstd, scale, offset
    auto var_unbiased = torch::empty({C}, x.options());
    const float* w = weight.data_ptr<float>();
    const float* b = bias.data_ptr<float>();
    float* mean = stat.data_ptr<float>();
    float *invstd = mean + C, *scale = mean + 2 * C, *offset = mean + 3 * C;
    for (std::int64_t c = 0; c < C; ++c) {
      const double m = moments[c] / rows;
      // biased, as BatchNorm normalizes
      const double var = std::max(moments[C + c] / rows - m * m, 0.0);
      mean[c] = static_cast<float>(shift[c] + m);
      invstd[c] = static_cast<float>(1.0 / std::sqrt(var + eps));
      scale[c] = w[c] * invstd[c];
      offset[c] = b[c] - mean[c] * scale[c];
      var_unbiased.data_ptr<float>()[c] =
          static_cast<float>(rows > 1 ? var * rows / (rows - 1) : var);
    }
    {
      torch::NoGradGuard no_grad;
      running_mean.mul_(1 - momentum).add_(stat[0], momentum);
      running_var.mul_(1 - momentum).add_(var_unbiased, momentum);
    }
    torch::Tensor out = pooled_output(x, pool, scale, offset);
    ctx->save_for_backward({x, weight, stat});
    ctx->saved_data["pool"] = pool;
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &weight = saved[1], &stat = saved[2];
    const ChannelsLastShape shape = shape_of(x, ctx->saved_data["pool"].toInt());
    const std::int64_t B = x.size(0), C = x.size(1), rows = x.numel() / C;
    torch::Tensor dout = grads[0];
    if (!dense_cpu_float(dout) || !dout.is_contiguous(torch::MemoryFormat::ChannelsLast))
      dout = dout.to(torch::kFloat).contiguous(torch::MemoryFormat::ChannelsLast);
    const float *g = dout.data_ptr<float>(), *in = x.data_ptr<float>();
    const float* mean = stat.data_ptr<float>();
    const float *invstd = mean + C, *scale = mean + 2 * C, *offset = mean + 3 * C;
    const std::vector<double> sums =
        channel_sums(B, C, [&](std::int64_t b0, std::int64_t b1, double* sum_g, double* sum_gx) {
          bn_softplus_pool_backward_reduce(g, in, shape, static_cast<std::size_t>(b0),
                                           static_cast<std::size_t>(b1), scale, offset, mean,
                                           invstd, sum_g, sum_gx);
        });
    auto dweight = torch::empty({C}, weight.options());
    auto dbias = torch::empty({C}, weight.options());
    std::vector<float> k(C), mean_g(C), mean_gx(C);
    const float* w = weight.data_ptr<float>();
    for (std::int64_t c = 0; c < C; ++c) {
      dbias.data_ptr<float>()[c] = static_cast<float>(sums[c]);
      dweight.data_ptr<float>()[c] = static_cast<float>(sums[C + c]);
      k[c] = w[c] * invstd[c];
      mean_g[c] = static_cast<float>(sums[c] / rows);
      mean_gx[c] = static_cast<float>(sums[C + c] / rows);
    }
    torch::Tensor dx = torch::empty_like(x);  // channels-last like x
    float* res = dx.data_ptr<float>();
    parallel_images(B, [&](std::int64_t, std::int64_t b0, std::int64_t b1) {
      bn_softplus_pool_backward_apply(g, in, shape, static_cast<std::size_t>(b0),
                                      static_cast<std::size_t>(b1), scale, offset, mean, invstd,
                                      k.data(), mean_g.data(), mean_gx.data(), res);
    });
    return {dx,
            dweight,
            dbias,
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor()};
  }
};

}  // namespace

bool bn_softplus_fusable(const torch::Tensor& x, const torch::nn::BatchNorm2d& bn,
                         std::int64_t pool) {
  const auto& o = bn->options;
  // Evaluation (running statistics) only without autograd: forward only.
  const bool mode_ok = bn->is_training() || !(torch::GradMode::is_enabled() && x.requires_grad());
  return mode_ok && o.affine() && o.track_running_stats() && dense_cpu_float(x) &&
         x.dim() == 4 && x.size(1) == o.num_features() && x.numel() > x.size(1) && pool >= 1 &&
         x.size(2) % pool == 0 && x.size(3) % pool == 0 &&
         x.is_contiguous(torch::MemoryFormat::ChannelsLast) && dense_cpu_float(bn->weight) &&
         dense_cpu_float(bn->bias) && dense_cpu_float(bn->running_mean) &&
         dense_cpu_float(bn->running_var);
}

torch::Tensor bn_softplus(const torch::Tensor& x, torch::nn::BatchNorm2d& bn, std::int64_t pool) {
  NS_CHECK(bn_softplus_fusable(x, bn, pool),
           "bn_softplus: needs an affine BatchNorm2d (in evaluation mode: no autograd), a "
           "channels-last float32 CPU input, and a pooling size that divides its height and "
           "width");
  if (!bn->is_training()) {  // running statistics: one pass, no autograd
    torch::NoGradGuard no_grad;
    auto scale = (bn->weight / (bn->running_var + bn->options.eps()).sqrt()).contiguous();
    auto offset = (bn->bias - bn->running_mean * scale).contiguous();
    return BnSoftplusPoolFunction::pooled_output(x, pool, scale.data_ptr<float>(),
                                                 offset.data_ptr<float>());
  }
  double momentum = 0;
  {
    torch::NoGradGuard no_grad;
    bn->num_batches_tracked += 1;  // as BatchNorm2d::forward does in training mode
    momentum = bn->options.momentum().has_value()
                   ? *bn->options.momentum()
                   : 1.0 / static_cast<double>(bn->num_batches_tracked.item<std::int64_t>());
  }
  return BnSoftplusPoolFunction::apply(x, bn->weight, bn->bias, bn->running_mean,
                                       bn->running_var, momentum, bn->options.eps(), pool);
}

torch::Tensor fast_softplus(const torch::Tensor& x) {
  return dense_cpu_float(x) ? SoftplusFunction::apply(x) : torch::softplus(x);
}

ModelOptions with_computation_switches(ModelOptions model_options, const TrainOptions& train,
                                       bool cpu) {
  // NS_MASKCNN_ATEN_KERNELS=1 switches the fused CPU functions off for a whole process: the
  // quality comparison of bench/neural.md trains with ATen's modules through it. It is not a
  // sweep parameter (a new parameter would change every trial's id and seed).
  const char* aten = std::getenv("NS_MASKCNN_ATEN_KERNELS");
  const bool fused = aten == nullptr || std::string(aten).empty() || std::string(aten) == "0";
  return model_options.channels_last(train.channels_last())
      .fast_conv0_grad(train.fast_conv0_grad() && cpu && conv0_fast_grad_helps())
      .fast_softplus(fused);
}

void parameters_to_channels_last(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters())
    if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
}

bool conv0_fast_grad_helps() {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  return !avx512;
#else
  return true;
#endif
}

torch::Tensor conv0_fast_grad(const torch::Tensor& x, const torch::Tensor& weight) {
  return Conv0Function::apply(x, weight);
}

MaskCnnImpl::MaskCnnImpl(const ModelOptions& o) : options_(o) {
  const auto [h, w] = o.map_size();  // throws a clear ns::Error when the shapes do not fit
  map_h_ = h;
  map_w_ = w;
  NS_CHECK(o.in_channels() >= 1 && o.neurons() >= 1, "mask CNN needs >= 1 input channel and "
                                                     ">= 1 neuron (got {}, {})",
           o.in_channels(), o.neurons());
  // BatchNorm eps 1e-3, momentum 0.1 everywhere (Lee-lab defaults).
  input_bn_ = register_module(
      "input_bn", torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(o.in_channels())
                                             .eps(1e-3)
                                             .momentum(0.1)
                                             .affine(o.input_bn_affine())));
  const bool conv_bias = !o.bn_before_act();  // BN right after the conv makes a bias redundant
  for (std::int64_t l = 0; l < o.layers(); ++l) {
    const std::int64_t in = l == 0 ? o.in_channels() : o.channels();
    const std::int64_t k = l == 0 ? o.k1() : o.k_later();
    auto conv_opt = torch::nn::Conv2dOptions(in, o.channels(), k).bias(conv_bias);
    if (l > 0) conv_opt.padding(k / 2);  // 'same'
    convs_.push_back(register_module("conv" + std::to_string(l), torch::nn::Conv2d(conv_opt)));
    bns_.push_back(register_module(
        "bn" + std::to_string(l),
        torch::nn::BatchNorm2d(
            torch::nn::BatchNorm2dOptions(o.channels()).eps(1e-3).momentum(0.1))));
  }
  const std::int64_t N = o.neurons();
  ws_ = register_parameter("readout_spatial", torch::empty({N, map_h_ * map_w_}));
  wf_ = register_parameter("readout_feature", torch::empty({N, o.channels()}));
  bias_ = register_parameter("readout_bias", torch::zeros({N}));

  // Initialization as published: conv and readout weights N(0, init_std^2), biases 0,
  // BN weight 1 / bias 0 (the LibTorch default).
  torch::NoGradGuard no_grad;
  for (auto& c : convs_) {
    c->weight.normal_(0.0, o.init_std());
    if (c->bias.defined()) c->bias.zero_();
  }
  ws_.normal_(0.0, o.init_std());
  wf_.normal_(0.0, o.init_std());
}

torch::Tensor MaskCnnImpl::activation(const torch::Tensor& x) const {
  if (options_.act() == Act::kRelu) return torch::relu(x);
  return options_.fast_softplus() ? fast_softplus(x) : torch::softplus(x);
}

namespace {

// With one channel, NCHW and NHWC are the same bytes, but ATen gives such a tensor NCHW strides
// (.contiguous(ChannelsLast) keeps them), so oneDNN returns conv0's output in NCHW and the model
// pays a copy of the whole activation to convert it. NHWC strides on the same memory make conv0
// write NHWC directly.
torch::Tensor one_channel_nhwc(const torch::Tensor& x) {
  if (x.dim() != 4 || x.size(1) != 1 || !x.is_contiguous() || x.requires_grad()) return x;
  return x.as_strided(x.sizes(), {x.stride(0), 1, x.stride(2), 1});
}

}  // namespace

torch::Tensor MaskCnnImpl::features(torch::Tensor x) {
  x = input_bn_(x);
  if (options_.channels_last()) x = one_channel_nhwc(x);
  const std::int64_t p = options_.pool_size();
  bool pooled = false;
  for (std::size_t l = 0; l < convs_.size(); ++l) {
    if (l == 0 && options_.fast_conv0_grad()) {
      const auto& c = convs_[0];
      x = conv0_fast_grad(x, c->weight);
      if (c->bias.defined()) x = x + c->bias.view({1, -1, 1, 1});
    } else {
      x = convs_[l](x);
    }
    // Convert conv0's output if it is NCHW (several input channels in NCHW, or an input BN with
    // trainable parameters) so BN / activation backward never mix memory formats.
    if (l == 0 && options_.channels_last()) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    // BatchNorm + softplus (+ the average pooling after the last layer) in one function
    // (training, CPU; BnSoftplusPoolFunction); otherwise ATen's modules.
    const bool last = l + 1 == convs_.size();
    const std::int64_t fused_pool =
        last && options_.pool() == Pool::kAvg && bn_softplus_fusable(x, bns_[l], p) ? p : 1;
    if (options_.bn_before_act() && options_.act() == Act::kSoftplus &&
        options_.fast_softplus() && bn_softplus_fusable(x, bns_[l], fused_pool)) {
      x = bn_softplus(x, bns_[l], fused_pool);
      pooled = fused_pool > 1;
    } else {
      x = options_.bn_before_act() ? activation(bns_[l](x)) : bns_[l](activation(x));
    }
  }
  return pooled ? x : pool_features(x, options_);
}

torch::Tensor pool_features(const torch::Tensor& x, const ModelOptions& o) {
  const std::int64_t p = o.pool_size();
  switch (o.pool()) {
    case Pool::kAvg:
      return torch::avg_pool2d(x, {p, p}, {p, p}, {0, 0}, /*ceil_mode=*/true);
    case Pool::kMax:
      return torch::max_pool2d(x, {p, p}, {p, p}, {0, 0}, {1, 1}, /*ceil_mode=*/true);
    case Pool::kNone:
      break;
  }
  return x;
}

torch::Tensor MaskCnnImpl::spatial_weights() const {
  auto w = options_.readout_positive() == Positive::kAbs ? ws_.abs() : ws_;
  return w.view({options_.neurons(), map_h_, map_w_});
}

torch::Tensor MaskCnnImpl::feature_weights() const {
  return options_.readout_positive() == Positive::kAbs ? wf_.abs() : wf_;
}

torch::Tensor MaskCnnImpl::forward(torch::Tensor x) {
  x = features(x);
  const std::int64_t B = x.size(0), C = x.size(1);
  NS_CHECK(x.size(2) == map_h_ && x.size(3) == map_w_,
           "mask CNN: feature map is {}x{}, the readout expects {}x{} (input {}x{})", x.size(2),
           x.size(3), map_h_, map_w_, options_.height(), options_.width());
  auto ws = options_.readout_positive() == Positive::kAbs ? ws_.abs() : ws_;  // [N, S]
  auto wf = feature_weights();                                              // [N, C]
  const std::int64_t S = map_h_ * map_w_;
  // out[b, n] = sum_c wf[n, c] * sum_s ws[n, s] x[b, c, s] + bias[n]
  torch::Tensor out;
  if (x.is_contiguous(torch::MemoryFormat::ChannelsLast) && !x.is_contiguous()) {
    // [B, h, w, C] in memory: xs is a view, and the gradient flowing back stays channels_last
    // too (mixed memory formats send BatchNorm and softplus backward to slow kernels). The
    // spatial sum first ([B, C, S] x [S, N]) keeps the intermediate at [B, C, N]; the feature
    // sum first made a [B, S, N] one, S / C times larger (12x at 50x50 with 16 channels).
    auto xs = x.permute({0, 2, 3, 1}).reshape({B, S, C});
    auto spatial = torch::matmul(xs.transpose(1, 2), ws.t());  // [B, C, N]
    out = (spatial * wf.t().unsqueeze(0)).sum(1) + bias_;
  } else {
    auto spatial = torch::matmul(x.reshape({B, C, S}), ws.t());  // [B, C, N]
    out = (spatial * wf.t().unsqueeze(0)).sum(1) + bias_;
  }
  return activation(out);
}

void MaskCnnImpl::init_readout_bias(const std::vector<double>& mean_response) {
  NS_CHECK(static_cast<std::int64_t>(mean_response.size()) == options_.neurons(),
           "init_readout_bias: {} means for {} neurons", mean_response.size(), options_.neurons());
  std::vector<float> b(mean_response.size());
  for (std::size_t n = 0; n < b.size(); ++n)
    b[n] = readout_bias_for(mean_response[n], options_.act() == Act::kSoftplus);
  torch::NoGradGuard no_grad;
  bias_.copy_(torch::tensor(b).to(bias_.device()));
}

torch::Tensor MaskCnnImpl::regularizer(const LossOptions& loss) const {
  auto total = torch::zeros({}, ws_.options());
  if (loss.smoothness() > 0)
    total = total + loss.smoothness() * laplacian_penalty(convs_[0]->weight);
  if (loss.readout_scale() > 0)
    total = total + loss.readout_scale() * readout_penalty(ws_, wf_);
  if (loss.group_sparsity() > 0) {
    for (std::size_t l = 1; l < convs_.size(); ++l)
      total = total + loss.group_sparsity() * group_penalty(convs_[l]->weight);
  }
  return total;
}

torch::Tensor poisson_loss(const torch::Tensor& pred, const torch::Tensor& target) {
  return (pred - target * torch::log(pred + 1e-5)).mean();
}

torch::Tensor data_loss(LossKind kind, const torch::Tensor& pred, const torch::Tensor& target) {
  return kind == LossKind::kPoisson ? poisson_loss(pred, target) : (pred - target).pow(2).mean();
}

torch::Tensor laplacian_penalty(const torch::Tensor& weight) {
  const auto k = weight.size(2);
  auto w = weight.reshape({weight.size(0) * weight.size(1), 1, k, weight.size(3)});
  // The kernel is a constant: built once per device and type, not copied from the host each step.
  // Keyed by (device type, index, dtype): no string is built on the training step.
  thread_local std::map<std::tuple<int, int, int>, torch::Tensor> kernels;
  const auto key = std::make_tuple(static_cast<int>(weight.device().type()),
                                   static_cast<int>(weight.device().index()),
                                   static_cast<int>(weight.scalar_type()));
  auto it = kernels.find(key);
  if (it == kernels.end()) {
    auto k3 = torch::tensor({0.25f, 0.5f, 0.25f, 0.5f, -3.0f, 0.5f, 0.25f, 0.5f, 0.25f},
                            torch::TensorOptions().dtype(weight.scalar_type()))
                  .view({1, 1, 3, 3})
                  .to(weight.device());
    it = kernels.emplace(key, k3).first;
  }
  const torch::Tensor& lap = it->second;
  auto out = torch::conv2d(w.contiguous(), lap, {}, 1, 1);
  // The tiny floor only guards an all-zero slice (0/0); it never binds for trained weights.
  return (out.pow(2).sum({1, 2, 3}) / w.pow(2).sum({1, 2, 3}).clamp_min(1e-30)).sum();
}

float readout_bias_for(double m, bool softplus) {
  if (!softplus) return static_cast<float>(m);
  m = std::max(m, 1e-6);  // softplus never reaches 0; log(expm1(0)) would be -inf
  return static_cast<float>(m > 20 ? m + std::log(-std::expm1(-m)) : std::log(std::expm1(m)));
}

torch::Tensor group_penalty(const torch::Tensor& weight) {
  return weight.pow(2).sum({2, 3}).sqrt().sum();
}

torch::Tensor readout_penalty(const torch::Tensor& spatial, const torch::Tensor& feature) {
  return (spatial.reshape({spatial.size(0), -1}).abs().sum(1) * feature.abs().sum(1)).mean();
}

std::int64_t count_parameters(const torch::nn::Module& module) {
  std::int64_t n = 0;
  for (const auto& p : module.parameters())
    if (p.requires_grad()) n += p.numel();
  return n;
}

}  // namespace ns::models::neural
