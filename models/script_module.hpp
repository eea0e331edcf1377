#pragma once
// A user's TorchScript module as the torchscript family's tasks train it (models/neural/
// script_net.cpp: "neural"; models/classifier/script_classifier.cpp: "classification"). Loading
// checks what LibTorch would otherwise report late or never: a missing or non-TorchScript file,
// no forward, a traced module whose BatchNorm or dropout is frozen in one mode, nothing to train.
// Include only from models/ .cpp files (LibTorch header).
#include <torch/script.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "engine/trial_runner.hpp"

namespace ns::models {

class ScriptModule {
 public:
  /// Loads a fresh copy of `path` on `device` (no trial sees another's weights) and turns the
  /// profiling executor off (it re-optimizes a graph over its first calls and again after every
  /// change of shapes; the simple executor optimizes once). Throws ns::Error (bad input).
  ScriptModule(const std::string& path, const torch::Device& device);

  /// forward(x), checked to return a tensor (`expected` names it in the message: "[B, neurons]").
  torch::Tensor forward(const torch::Tensor& x, const char* expected);
  void train(bool on) { m_.train(on); }
  const std::string& path() const { return path_; }

  /// The parameters that require grad (what the optimizer trains), and the names of the others.
  const std::vector<torch::Tensor>& trainable() const { return trainable_; }
  const std::vector<std::string>& frozen() const { return frozen_; }
  std::int64_t trainable_count() const;
  /// The parameter `name`; else an error at `where` that lists the module's parameter names.
  torch::Tensor parameter(const std::string& where, const std::string& name) const;

  /// Buffers and parameters by name into (from) an archive: checkpoints and best snapshots.
  /// Loading checks that the names match the module's.
  void save_state(torch::serialize::OutputArchive& archive) const;
  void load_state(torch::serialize::InputArchive& archive);
  /// The same as bytes (from CPU copies), and back onto `device`.
  std::string save_blob() const;
  void load_blob(const std::string& blob, const torch::Device& device);

  /// The module as TorchScript in evaluation mode on the CPU, written atomically to `file`
  /// (torch.jit.load(file) in Python).
  void export_to(const std::filesystem::path& file) const;

 private:
  std::string path_;
  torch::jit::Module m_;
  std::vector<std::pair<std::string, torch::Tensor>> named_params_;
  std::vector<torch::Tensor> trainable_;
  std::vector<std::string> frozen_;
  std::vector<std::pair<std::string, torch::Tensor>> state_;  ///< buffers, then parameters
};

}  // namespace ns::models

namespace ns::models {

/// The "module" parameter of a torchscript trial, checked to name a file.
std::string module_param(const nlohmann::json& params);

/// The TorchScript files the "module" parameters of `configurations` name (each once, in order
/// of first appearance; role "module"), for the sweep's input digests (ModelFamily::input_files).
std::vector<engine::InputPath> module_inputs(const std::vector<nlohmann::json>& configurations);

/// `forward` in evaluation mode without gradients on a batch of 2 zero images of
/// `channels` x `height` x `width`: what `plan` runs once per module. A LibTorch error becomes
/// an ns::Error (bad input) naming `module` and the input shape.
torch::Tensor run_on_two_images(const std::string& module, std::int64_t channels,
                                std::int64_t height, std::int64_t width,
                                const std::function<torch::Tensor(const torch::Tensor&)>& forward);

}  // namespace ns::models
