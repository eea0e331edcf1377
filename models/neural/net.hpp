#pragma once
// What the neural training protocol (runner.cpp) trains: the built-in mask CNN, or a user's
// TorchScript module (script_net.cpp, the torchscript family). Inside models/neural only.
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "models/neural/maskcnn.hpp"
#include "models/neural/options.hpp"

namespace ns::models::neural {

class Net {
 public:
  virtual ~Net() = default;
  /// Predicted responses [B, N] for images [B, C, H, W].
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  /// The regularizers' total (a scalar on the model's device).
  virtual torch::Tensor regularizer() = 0;
  /// The parameters Adam trains (those that require grad).
  virtual std::vector<torch::Tensor> parameters() = 0;
  virtual void train(bool on) = 0;
  /// Parameters and buffers as bytes (from CPU copies): the best-model snapshots and resume.pt.
  virtual std::string save_blob() const = 0;
  virtual void load_blob(const std::string& blob, const torch::Device& device) = 0;
  /// The file the best snapshot is written to in the trial directory ("model.pt").
  virtual const char* best_file() const = 0;
  virtual std::int64_t parameter_count() const = 0;
  /// config.json's "model" entry.
  virtual nlohmann::json describe() const = 0;
  /// Outputs of a finished trial, with the best model restored (readout masks; a TorchScript
  /// export).
  virtual void write_outputs(const std::filesystem::path& dir) const = 0;
  /// Inputs in NHWC (the mask CNN's channels_last option).
  virtual bool channels_last() const { return false; }
  /// The mask CNN inside, for the packed trainer; nullptr for other nets.
  virtual MaskCnn* maskcnn() { return nullptr; }
};

/// A user's TorchScript module for the torchscript family's "neural" task, loaded fresh on
/// `device` from `module_path`, with the regularizers of `options` (the spec's "torchscript"
/// block) weighted by the trial's `params`. `mean_response`: the training set's mean per neuron
/// (for the readout bias the block names). Throws ns::Error (bad input) with the file's name.
std::unique_ptr<Net> make_script_net(const std::string& module_path, const nlohmann::json& options,
                                     const nlohmann::json& params,
                                     const std::vector<double>& mean_response,
                                     const torch::Device& device);

}  // namespace ns::models::neural
