#pragma once
// Options of the mask CNN family, each mapping 1:1 to a block of the sweep JSON: ModelOptions
// and LossOptions are the model parameters ("fixed", grid), TrainOptions the "training" block. Torch-free, so the schema and tests use them cheaply.
#include <torch/arg.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>

namespace ns::models::neural {

enum class Act { kSoftplus, kRelu };
enum class Pool { kAvg, kMax, kNone };
enum class Positive { kNone, kAbs };
enum class LossKind { kPoisson, kMse };

std::string to_string(Act v);
std::string to_string(Pool v);
std::string to_string(Positive v);
std::string to_string(LossKind v);

/// Architecture of the mask CNN (models/neural/README.md "The published model"; Lee-lab defaults).
/// The input geometry and the neuron count come from the dataset, hence the constructor.
struct ModelOptions {
  ModelOptions(std::int64_t in_channels, std::int64_t height, std::int64_t width,
               std::int64_t neurons)
      : in_channels_(in_channels), height_(height), width_(width), neurons_(neurons) {}
  TORCH_ARG(std::int64_t, in_channels);
  TORCH_ARG(std::int64_t, height);
  TORCH_ARG(std::int64_t, width);
  TORCH_ARG(std::int64_t, neurons);
  TORCH_ARG(std::int64_t, channels) = 16;
  TORCH_ARG(std::int64_t, layers) = 2;
  TORCH_ARG(std::int64_t, k1) = 9;
  TORCH_ARG(std::int64_t, k_later) = 3;
  TORCH_ARG(Act, act) = Act::kSoftplus;
  TORCH_ARG(bool, bn_before_act) = true;
  TORCH_ARG(Pool, pool) = Pool::kAvg;
  TORCH_ARG(std::int64_t, pool_size) = 3;
  TORCH_ARG(Positive, readout_positive) = Positive::kNone;
  /// Trainable scale/shift in the input BatchNorm. Default false: the BN after the bias-free
  /// conv0 cancels the shift exactly and the scale up to eps, and without trainable input
  /// parameters conv0's slow input gradient is never computed (docs/performance.md).
  TORCH_ARG(bool, input_bn_affine) = false;
  /// Std of the N(0, std^2) initialization of conv and readout weights.
  TORCH_ARG(double, init_std) = 0.01;
  /// Computation only (set from TrainOptions::fast_conv0_grad): conv0's weight gradient as a
  /// batch-as-channels convolution (maskcnn.cpp), ~4x faster than oneDNN's own on an AVX2 CPU.
  TORCH_ARG(bool, fast_conv0_grad) = true;
  /// Computation only: BatchNorm + softplus (+ pooling) and softplus on CPU float32 through the
  /// loops of cpu_kernels.hpp (bn_softplus, fast_softplus in maskcnn.hpp); false: ATen's
  /// modules. Not a sweep parameter: it would change every trial's identity (and seed) and
  /// the results columns, so sweeps started before it existed could not resume.
  TORCH_ARG(bool, fast_softplus) = true;
  /// Computation only (set from TrainOptions::channels_last): activations in NHWC. The caller
  /// converts 4-d parameters and inputs; the model keeps every activation in that format.
  TORCH_ARG(bool, channels_last) = false;

 public:
  /// Feature map (height, width) that reaches the readout; throws ns::Error when a kernel or
  /// the pooling window does not fit (message names the parameters and the image size).
  std::pair<std::int64_t, std::int64_t> map_size() const;
};

/// Loss and regularizers (models/neural/README.md "The published model", loss).
struct LossOptions {
  TORCH_ARG(LossKind, loss) = LossKind::kPoisson;
  TORCH_ARG(double, smoothness) = 5e-6;      ///< Laplacian penalty on conv0
  TORCH_ARG(double, readout_scale) = 0.01;   ///< factorized readout L1 penalty
  TORCH_ARG(double, group_sparsity) = 0.0;   ///< group lasso on conv layers >= 2
};

/// The training protocol (models/neural/README.md "The published model", training).
struct TrainOptions {
  TORCH_ARG(double, lr) = 1e-3;
  TORCH_ARG(std::int64_t, phases) = 3;
  TORCH_ARG(double, lr_decay) = 3.0;            ///< lr divided by this at each new phase
  TORCH_ARG(std::int64_t, batch_size) = 256;
  TORCH_ARG(std::int64_t, eval_every) = 50;
  TORCH_ARG(std::int64_t, patience) = 10;       ///< evaluations without strict improvement
  TORCH_ARG(std::int64_t, max_iters_per_phase) = 5000;
  /// Evaluation only; no effect on results. 256, not larger: an activation above glibc's mmap
  /// threshold (32 MiB, the most tune_allocator can set; 16 channels at 42x42 reach it at ~280
  /// images) is a fresh zero-filled mmap per call. 1000 images at 50x50 took 340 ms at 256 and
  /// 430-870 ms at 1024 (bench/train_step.md).
  TORCH_ARG(std::int64_t, eval_batch_size) = 256;
  /// Activations in NHWC (speed only; oneDNN's preferred layout). The model keeps every
  /// activation and gradient in one format: mixing sends BatchNorm / softplus backward to slow
  /// kernels (bench/neural.md).
  TORCH_ARG(bool, channels_last) = true;
  /// See ModelOptions::fast_conv0_grad; used on CPUs where it helps (conv0_fast_grad_helps).
  TORCH_ARG(bool, fast_conv0_grad) = true;
};

/// The family's parameter defaults as JSON objects (these also fix each parameter's JSON type).
nlohmann::json model_defaults();
nlohmann::json training_defaults();

/// Reads the options from a flat parameter object; keys absent fall back to the defaults.
/// Throws ns::Error naming the parameter, the value and the allowed values/range.
ModelOptions model_options_from_json(const nlohmann::json& params, std::int64_t in_channels,
                                     std::int64_t height, std::int64_t width,
                                     std::int64_t neurons);
LossOptions loss_options_from_json(const nlohmann::json& params);
/// Only the data loss ("loss": "poisson" or "mse"; the torchscript family's regularizers are
/// its own).
LossKind loss_kind_from_json(const nlohmann::json& params);
TrainOptions train_options_from_json(const nlohmann::json& params);

/// The model block (architecture + loss) as JSON; inverse of the *_from_json above.
nlohmann::json to_json(const ModelOptions& m, const LossOptions& l);
nlohmann::json to_json(const TrainOptions& t);

}  // namespace ns::models::neural
