#pragma once
// The `convnet` image classifier: `blocks` conv blocks, then a dense head. Include from models/
// .cpp files and tests only (LibTorch header).
//
//   block b (b = 0..blocks-1), filters F_b = filters * 2^b ("double") or filters ("constant"):
//     convs_per_block x [Conv2d(k, 'same' padding k/2, bias only without BN) -> BatchNorm2d
//                        (when batch_norm) -> activation]
//     -> pool (2x2, stride 2: max | avg | none) -> Dropout(conv_dropout) (when > 0)
//   head: flatten -> Linear(dense_units) -> activation -> Dropout(dropout) -> Linear(classes)
//         (dense_units = 0: flatten -> Dropout(dropout) -> Linear(classes))
//
// "double" is the usual VGG/Keras-baseline pattern (32 -> 64 for the 2-block Fashion-MNIST
// baseline); "constant" keeps F channels in every block (the RIS grid's single `filters` value).
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <string>

namespace ns::models::classifier {

/// Architecture of one convnet. Data-derived values in the constructor, hyperparameters as
/// fluent setters with the family defaults.
struct ConvNetOptions {
  ConvNetOptions(std::int64_t in_channels, std::int64_t height, std::int64_t width,
                 std::int64_t num_classes)
      : in_channels_(in_channels), height_(height), width_(width), num_classes_(num_classes) {}

  /// Hyperparameters only (the family's model defaults), keys as in a sweep file.
  nlohmann::json to_json() const;
  /// Sets the hyperparameters present in `params` (a flat trial parameter object); checks
  /// values and throws ns::Error naming the parameter.
  ConvNetOptions& update_from_json(const nlohmann::json& params);
  /// Channels of block b (0-based).
  std::int64_t block_filters(std::int64_t b) const;
  /// Throws ns::Error when the pooling blocks do not fit the image or the kernel is even;
  /// returns the [channels, height, width] the head sees.
  std::array<std::int64_t, 3> feature_shape() const;

  TORCH_ARG(std::int64_t, in_channels);
  TORCH_ARG(std::int64_t, height);
  TORCH_ARG(std::int64_t, width);
  TORCH_ARG(std::int64_t, num_classes);
  TORCH_ARG(std::int64_t, blocks) = 2;               ///< conv blocks, each ending in a pool
  TORCH_ARG(std::int64_t, convs_per_block) = 1;      ///< conv layers per block
  TORCH_ARG(std::int64_t, filters) = 32;             ///< channels of the first block
  TORCH_ARG(std::string, filter_growth) = "double";  ///< "double" per block | "constant"
  TORCH_ARG(std::int64_t, kernel_size) = 3;          ///< square kernel, 'same' padding (k/2)
  TORCH_ARG(bool, batch_norm) = true;                ///< BatchNorm2d after each conv
  TORCH_ARG(std::string, activation) = "relu";       ///< relu | elu | gelu | tanh | silu
  TORCH_ARG(std::string, pool) = "max";              ///< max | avg | none (2x2, stride 2)
  TORCH_ARG(std::int64_t, dense_units) = 128;        ///< hidden dense layer; 0 = none
  TORCH_ARG(double, dropout) = 0.25;                 ///< before the output layer
  TORCH_ARG(double, conv_dropout) = 0.0;             ///< after each block's pool
};

class ConvNetImpl : public torch::nn::Module {
 public:
  explicit ConvNetImpl(const ConvNetOptions& options);
  /// [B, C, H, W] float -> [B, num_classes] logits.
  torch::Tensor forward(torch::Tensor x);
  const ConvNetOptions& options() const { return options_; }

 private:
  ConvNetOptions options_;
  torch::nn::Sequential features_{nullptr};
  torch::nn::Sequential head_{nullptr};
};
TORCH_MODULE(ConvNet);

/// Number of trainable parameters.
std::int64_t count_parameters(const torch::nn::Module& m);

}  // namespace ns::models::classifier
