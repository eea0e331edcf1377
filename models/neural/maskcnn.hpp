#pragma once
// The mask CNN (Klindt et al. 2017; Lee-lab "maskcnn_polished"), models/neural/README.md
// "The published model": the architecture, with its losses and regularizers. LibTorch: include
// from models/ only.
#include <torch/torch.h>

#include <vector>

#include "models/neural/options.hpp"

namespace ns::models::neural {

/// Input BatchNorm -> conv stack (conv0 k1 valid, later k 'same'; BN and activation) -> pooling
/// -> factorized readout W[n,c,i,j] = Wf[n,c] * Ws[n,i,j] -> the same activation.
class MaskCnnImpl : public torch::nn::Module {
 public:
  explicit MaskCnnImpl(const ModelOptions& options);

  /// [B, C_in, H, W] raw pixels -> [B, neurons] predicted mean responses (non-negative).
  torch::Tensor forward(torch::Tensor x);
  /// The conv stack and pooling only: [B, channels, h, w].
  torch::Tensor features(torch::Tensor x);

  /// Readout bias = inverse of the final activation at each neuron's mean training response
  /// (softplus: log(exp(m) - 1), m clamped to >= 1e-6; relu: m).
  void init_readout_bias(const std::vector<double>& mean_response);

  /// Spatial readout masks [neurons, h, w] and feature weights [neurons, channels], after the
  /// positivity transform (the factors the model actually uses).
  torch::Tensor spatial_weights() const;
  torch::Tensor feature_weights() const;

  /// Weighted sum of the regularizers of the published loss (models/neural/README.md;
  /// smoothness on conv0, readout sparsity, group sparsity on conv layers >= 2).
  torch::Tensor regularizer(const LossOptions& loss) const;

  const ModelOptions& options() const { return options_; }
  const std::vector<torch::nn::Conv2d>& convs() const { return convs_; }
  const std::vector<torch::nn::BatchNorm2d>& bns() const { return bns_; }
  const torch::nn::BatchNorm2d& input_bn() const { return input_bn_; }
  torch::Tensor readout_bias() const { return bias_; }
  /// The activation of the model (softplus or relu), as forward() applies it.
  torch::Tensor activation(const torch::Tensor& x) const;

 private:
  ModelOptions options_;
  torch::nn::BatchNorm2d input_bn_{nullptr};
  std::vector<torch::nn::Conv2d> convs_;
  std::vector<torch::nn::BatchNorm2d> bns_;
  torch::Tensor ws_, wf_, bias_;  // [N, h*w], [N, C], [N]
  std::int64_t map_h_ = 0, map_w_ = 0;
};
TORCH_MODULE(MaskCnn);

/// The pooling after the conv stack (`o.pool()`, window and stride `o.pool_size()`, ceil mode).
torch::Tensor pool_features(const torch::Tensor& x, const ModelOptions& o);

/// conv2d(x, weight) (stride 1, no padding, no bias) whose weight gradient is computed as a
/// forward convolution with the batch as channels (much faster for conv0; see maskcnn.cpp).
torch::Tensor conv0_fast_grad(const torch::Tensor& x, const torch::Tensor& weight);
/// `model_options` with the computation switches the runner uses: channels_last from the
/// training options; fast_conv0_grad where asked for, on CPU, and where it helps.
ModelOptions with_computation_switches(ModelOptions model_options, const TrainOptions& train,
                                       bool cpu);
/// Puts the 4-d parameters (the convolution weights) of `module` in channels-last layout, as a
/// channels_last model wants them.
void parameters_to_channels_last(torch::nn::Module& module);

/// Whether conv0_fast_grad beats oneDNN's own weight gradient on this CPU. Measured
/// (bench/neural.md, bench/train_step.md): ~4x faster on an AVX2-only CPU; on AVX-512 CPUs
/// oneDNN's own was faster (by 2-3 % on an AMD EPYC, ~25 ms of a ~220 ms step on a Xeon).
/// So: true unless the CPU has AVX-512.
bool conv0_fast_grad_helps();

/// torch::softplus(x) (beta 1) through the vectorized loops of cpu_kernels.hpp for a dense
/// float32 CPU tensor, with its own gradient; any other tensor goes to torch::softplus.
torch::Tensor fast_softplus(const torch::Tensor& x);

/// True when bn_softplus(x, bn, pool) applies: `bn` affine and tracking running statistics,
/// in training mode or (evaluation) with no gradient to compute; `x` a channels-last float32
/// CPU tensor with bn's channel count whose height and width `pool` divides.
bool bn_softplus_fusable(const torch::Tensor& x, const torch::nn::BatchNorm2d& bn,
                         std::int64_t pool = 1);
/// avg_pool2d(torch::softplus(bn(x)), pool) (pool 1: no pooling). In training mode one pass each
/// way after the batch moments (cpu_kernels.hpp), updating bn's running statistics and batch
/// count as bn(x) would; in evaluation mode one pass with the running statistics. The output
/// is channels-last.
torch::Tensor bn_softplus(const torch::Tensor& x, torch::nn::BatchNorm2d& bn,
                          std::int64_t pool = 1);

/// Poisson loss: mean over batch and neurons of (yhat - y * log(yhat + 1e-5)).
torch::Tensor poisson_loss(const torch::Tensor& pred, const torch::Tensor& target);
/// The data term of `kind` (poisson or mse, both means over batch and neurons).
torch::Tensor data_loss(LossKind kind, const torch::Tensor& pred, const torch::Tensor& target);
/// Smoothness of a conv weight [out, in, k, k]: sum over (out, in) slices of
/// ||conv2d(W_slice, L, pad 1)||^2 / ||W_slice||^2, L the 3x3 Laplacian of models/neural/README.md.
torch::Tensor laplacian_penalty(const torch::Tensor& weight);
/// The initial readout bias for a mean response m: softplus^-1(m) for a softplus output, else m.
float readout_bias_for(double mean_response, bool softplus);
/// Group sparsity of a conv weight: sum over (out, in) of sqrt(sum_{h,w} W^2).
torch::Tensor group_penalty(const torch::Tensor& weight);
/// Readout sparsity: mean over neurons of sum|Ws[n]| * sum|Wf[n]|.
torch::Tensor readout_penalty(const torch::Tensor& spatial, const torch::Tensor& feature);

/// Number of trainable parameters.
std::int64_t count_parameters(const torch::nn::Module& module);

}  // namespace ns::models::neural
