#pragma once
// What the classifier training loop (runner.cpp) trains: the built-in convnet, or a user's
// TorchScript module (script_classifier.cpp, the torchscript family's "classification" task).
// Inside models/classifier only (LibTorch header).
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace ns::models::classifier {

class Classifier {
 public:
  virtual ~Classifier() = default;
  /// Logits [B, classes] for images [B, C, H, W].
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  /// What the optimizer trains.
  virtual std::vector<torch::Tensor> parameters() = 0;
  virtual void train(bool on) = 0;
  /// Weights and buffers into (from) a checkpoint's archive.
  virtual void save_state(torch::serialize::OutputArchive& archive) const = 0;
  virtual void load_state(torch::serialize::InputArchive& archive) = 0;
  /// The best epoch's weights: written atomically into `dir` at each improvement, and restored
  /// before the final scores.
  virtual void save_best(const std::filesystem::path& dir) const = 0;
  virtual void load_best(const std::filesystem::path& dir, const torch::Device& device) = 0;
  virtual std::int64_t parameter_count() const = 0;
  /// config.json's "model" entry.
  virtual nlohmann::json describe() const = 0;
  /// Outputs of a finished trial with the best weights restored (a TorchScript export).
  virtual void write_outputs(const std::filesystem::path& dir) const { (void)dir; }
  /// Floats of the largest activation per image, to cap the evaluation batch (0: unknown).
  virtual std::int64_t activation_per_image() const { return 0; }
};

/// Images of `channels` x `height` x `width` into `classes` logits.
struct Geometry {
  std::int64_t channels = 1, height = 28, width = 28, classes = 10;
};

/// The convnet of `params` (models/classifier/convnet.hpp) on `device`.
std::unique_ptr<Classifier> make_convnet(const nlohmann::json& params, const Geometry& g,
                                         const torch::Device& device);
/// A fresh copy of the TorchScript module `path` on `device` (models/script_module.hpp).
std::unique_ptr<Classifier> make_script_classifier(const std::string& path,
                                                   const torch::Device& device);

}  // namespace ns::models::classifier
