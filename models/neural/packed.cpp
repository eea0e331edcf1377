#include "models/neural/packed.hpp"

#include <fmt/format.h>

#include "core/error.hpp"

namespace ns::models::neural {
namespace {

// Concatenates one tensor of each member along dim 0 (conv weights [C, ...] -> [K*C, ...]).
template <typename Get>
std::vector<torch::Tensor> each_member(const std::vector<MaskCnn>& models, Get get) {
  std::vector<torch::Tensor> parts;
  parts.reserve(models.size());
  for (const auto& m : models) parts.push_back(get(*m));
  return parts;
}
template <typename Get>
torch::Tensor cat_members(const std::vector<MaskCnn>& models, Get get) {
  return torch::cat(each_member(models, get), 0);
}
// Stacks one tensor of each member in a new leading dimension ([N, C] -> [K, N, C]).
template <typename Get>
torch::Tensor stack_members(const std::vector<MaskCnn>& models, Get get) {
  return torch::stack(each_member(models, get), 0);
}

// BatchNorm in training mode over K*C channels, channel block k being member k's BatchNorm
// (`bn_of(member)`): batch statistics per channel are that member's alone. The running
// statistics are concatenated, updated by ATen, and copied back into each member.
template <typename Get>
torch::Tensor packed_batch_norm(const torch::Tensor& x, const std::vector<MaskCnn>& models,
                                Get bn_of) {
  const torch::nn::BatchNorm2d& first = bn_of(*models[0]);
  const auto& o = first->options;
  const std::int64_t C = o.num_features();
  torch::Tensor weight, bias;
  if (o.affine()) {
    weight = cat_members(models, [&](const MaskCnnImpl& m) { return bn_of(m)->weight; });
    bias = cat_members(models, [&](const MaskCnnImpl& m) { return bn_of(m)->bias; });
  }
  torch::Tensor mean, var;
  {
    torch::NoGradGuard no_grad;
    mean = cat_members(models, [&](const MaskCnnImpl& m) { return bn_of(m)->running_mean; });
    var = cat_members(models, [&](const MaskCnnImpl& m) { return bn_of(m)->running_var; });
    for (const auto& m : models) bn_of(*m)->num_batches_tracked.add_(1);
  }
  NS_CHECK(o.momentum().has_value(), "packed BatchNorm needs a fixed momentum");
  auto out = torch::batch_norm(x, weight, bias, mean, var, /*training=*/true, *o.momentum(),
                               o.eps(), at::globalContext().userEnabledCuDNN());
  torch::NoGradGuard no_grad;
  for (std::size_t k = 0; k < models.size(); ++k) {
    const auto& bn = bn_of(*models[k]);
    bn->running_mean.copy_(mean.narrow(0, static_cast<std::int64_t>(k) * C, C));
    bn->running_var.copy_(var.narrow(0, static_cast<std::int64_t>(k) * C, C));
  }
  return out;
}

}  // namespace

std::string pack_shape_key(const ModelOptions& m, const TrainOptions& t) {
  // Every member must use the same fixed BatchNorm momentum and eps (the constructor's).
  return fmt::format("maskcnn c{}x{} l{} k{}/{} act{} bnfirst{} pool{}/{} pos{} inaff{} in{}x{}x{} "
                     "n{} b{}",
                     m.in_channels(), m.channels(), m.layers(), m.k1(), m.k_later(),
                     to_string(m.act()), m.bn_before_act(), to_string(m.pool()), m.pool_size(),
                     to_string(m.readout_positive()), m.input_bn_affine(), m.in_channels(),
                     m.height(), m.width(), m.neurons(), t.batch_size());
}

torch::Tensor packed_forward(const std::vector<MaskCnn>& models, const torch::Tensor& x) {
  NS_CHECK(!models.empty(), "packed_forward: no models");
  const ModelOptions& o = models[0]->options();
  const auto K = static_cast<std::int64_t>(models.size());
  NS_CHECK(x.dim() == 5 && x.size(0) == K,
           "packed_forward: input must be [{}, B, C, H, W], got {} dimensions of which the first "
           "is {}",
           K, x.dim(), x.dim() > 0 ? x.size(0) : 0);
  const std::int64_t B = x.size(1), Cin = x.size(2), C = o.channels();
  // [K, B, Cin, H, W] -> [B, K*Cin, H, W]: member k's images in channels k*Cin .. k*Cin+Cin-1.
  torch::Tensor h = x.transpose(0, 1).reshape({B, K * Cin, x.size(3), x.size(4)});
  h = packed_batch_norm(h, models, [](const MaskCnnImpl& m) -> const torch::nn::BatchNorm2d& {
    return m.input_bn();
  });
  for (std::size_t l = 0; l < models[0]->convs().size(); ++l) {
    const auto& conv = models[0]->convs()[l];
    auto weight = cat_members(models, [&](const MaskCnnImpl& m) { return m.convs()[l]->weight; });
    torch::Tensor bias;
    if (conv->bias.defined())
      bias = cat_members(models, [&](const MaskCnnImpl& m) { return m.convs()[l]->bias; });
    const std::int64_t pad = l == 0 ? 0 : o.k_later() / 2;  // as the constructor: 'same' after conv0
    h = torch::conv2d(h, weight, bias, 1, pad, 1, K);
    auto bn = [&](const torch::Tensor& t) {
      return packed_batch_norm(t, models, [l](const MaskCnnImpl& m)
                                              -> const torch::nn::BatchNorm2d& { return m.bns()[l]; });
    };
    h = o.bn_before_act() ? models[0]->activation(bn(h)) : bn(models[0]->activation(h));
  }
  h = pool_features(h, o);
  const std::int64_t S = h.size(2) * h.size(3), N = o.neurons();
  // [B, K*C, h, w] -> [K, B*C, S]; spatial sums per member: [K, B*C, S] x [K, S, N].
  auto feats = h.reshape({B, K, C, S}).transpose(0, 1).reshape({K, B * C, S});
  auto ws = stack_members(models, [&](const MaskCnnImpl& m) {
    return m.spatial_weights().reshape({N, S});
  });  // [K, N, S]
  auto wf = stack_members(models, [](const MaskCnnImpl& m) { return m.feature_weights(); });
  auto bias = stack_members(models, [](const MaskCnnImpl& m) { return m.readout_bias(); });
  auto spatial = torch::bmm(feats, ws.transpose(1, 2)).view({K, B, C, N});
  auto out = (spatial * wf.transpose(1, 2).unsqueeze(1)).sum(2);  // [K, B, N]
  return models[0]->activation(out + bias.unsqueeze(1));
}

}  // namespace ns::models::neural
