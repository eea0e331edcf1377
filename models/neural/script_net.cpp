// A user's TorchScript module as a Net (models/neural/net.hpp): the torchscript family's
// "neural" task. The module is loaded fresh for every trial, so no trial sees another's weights.
#include <torch/script.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "core/file.hpp"
#include "engine/trial_runner.hpp"
#include "models/neural/net.hpp"
#include "models/torch_common.hpp"

namespace ns::models::neural {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// One regularizer of the "torchscript" block, bound to the module's tensors.
struct Penalty {
  std::string kind;                 // smoothness, readout_l1, group_sparsity
  std::vector<std::string> names;
  std::vector<torch::Tensor> tensors;
  double weight = 0;
};

// True when the forward graph (with every submodule call inlined) reads a module's `training`
// flag: scripted modules do (BatchNorm, dropout); a traced module has the mode of the moment it
// was traced baked in.
bool reads_training_flag(const torch::jit::Module& m) {
  auto graph = m.get_method("forward").graph()->copy();
  torch::jit::Inline(*graph);
  std::vector<torch::jit::Block*> blocks = {graph->block()};
  while (!blocks.empty()) {
    torch::jit::Block* b = blocks.back();
    blocks.pop_back();
    for (torch::jit::Node* n : b->nodes()) {
      if (n->kind() == c10::prim::GetAttr && n->s(c10::attr::name) == "training") return true;
      for (torch::jit::Block* sub : n->blocks()) blocks.push_back(sub);
    }
  }
  return false;
}

// Submodules whose train and eval behaviour differ.
std::vector<std::string> mode_dependent_submodules(const torch::jit::Module& m) {
  std::vector<std::string> out;
  for (const auto& sub : m.named_modules()) {
    const std::string type = sub.value.type()->name() ? sub.value.type()->name()->qualifiedName() : "";
    if (type.find("Dropout") != std::string::npos || type.find("BatchNorm") != std::string::npos)
      out.push_back(sub.name.empty() ? type : sub.name);
  }
  return out;
}

class ScriptNet final : public Net {
 public:
  ScriptNet(const std::string& path, const json& options, const json& params,
            const std::vector<double>& mean_response, const torch::Device& device)
      : path_(path) {
    // The profiling executor re-optimizes a graph over its first calls (slow first steps, and
    // again after every change of shapes); the simple executor optimizes once.
    torch::jit::getProfilingMode() = false;
    NS_CHECK(fs::exists(path), "torchscript module '{}': no such file", path);
    try {
      m_ = torch::jit::load(path, device);
    } catch (const std::exception& e) {
      NS_FAIL_CODE(kExitBadInput,
                   "torchscript module '{}' is not a TorchScript file ({}); save it from Python "
                   "with torch.jit.script(model).save(path)",
                   path, engine::without_backtrace(e.what()).substr(0, 300));
    }
    NS_CHECK(m_.find_method("forward").has_value(),
                  "torchscript module '{}' has no forward method", path);
    const std::vector<std::string> modal = mode_dependent_submodules(m_);
    NS_CHECK(modal.empty() || reads_training_flag(m_),
                  "torchscript module '{}' was traced (torch.jit.trace), not scripted: its "
                  "forward never reads the training flag, so {} behave as they did when it was "
                  "traced, in training and in evaluation alike; export it with "
                  "torch.jit.script(model).save(path)",
                  path, fmt::join(modal, ", "));
    std::map<std::string, torch::Tensor> named;
    std::vector<std::string> names;
    for (const auto& b : m_.named_buffers(/*recurse=*/true)) state_.emplace_back("b:" + b.name, b.value);
    for (const auto& p : m_.named_parameters(/*recurse=*/true)) {
      named[p.name] = p.value;
      names.push_back(p.name);
      state_.emplace_back("p:" + p.name, p.value);
      if (p.value.requires_grad()) {
        trainable_.push_back(p.value);
      } else {
        frozen_.push_back(p.name);
      }
    }
    NS_CHECK(!trainable_.empty(),
                  "torchscript module '{}' has no parameter that requires grad: nothing to train",
                  path);
    auto tensor_named = [&](const std::string& where, const std::string& name) {
      auto it = named.find(name);
      NS_CHECK(it != named.end(),
                    "{}: '{}' is not a parameter of the module '{}'; its parameters: {}", where,
                    name, path, fmt::join(names, ", "));
      return it->second;
    };
    for (const char* kind : {"smoothness", "readout_l1", "group_sparsity"}) {
      if (!options.contains(kind)) continue;
      const json& r = options.at(kind);
      Penalty pen;
      pen.kind = kind;
      pen.weight = params.value(kind, 0.0);
      const std::string where = fmt::format("$.torchscript.{}", kind);
      if (r.contains("param")) pen.names.push_back(r.at("param").get<std::string>());
      if (r.contains("params"))
        for (const auto& n : r.at("params")) pen.names.push_back(n.get<std::string>());
      for (const auto& n : pen.names) pen.tensors.push_back(tensor_named(where, n));
      for (std::size_t i = 0; i < pen.tensors.size(); ++i) {
        const auto& t = pen.tensors[i];
        if (pen.kind != "readout_l1")
          NS_CHECK(t.dim() == 4,
                        "{}: '{}' has shape {}; {} needs a convolution weight [out, in, k, k]",
                        where, pen.names[i], t.sizes(), pen.kind);
      }
      if (pen.kind == "smoothness")
        NS_CHECK(pen.tensors.size() == 1,
                      "{}: name one convolution weight (\"param\")", where);
      if (pen.kind == "readout_l1") {
        NS_CHECK(pen.tensors.size() == 1 || pen.tensors.size() == 2,
                      "{}: name the readout's weight, or its spatial and feature weights "
                      "(\"params\": [spatial, feature])",
                      where);
        if (pen.tensors.size() == 2)
          NS_CHECK(pen.tensors[0].dim() >= 2 && pen.tensors[1].dim() == 2 &&
                            pen.tensors[0].size(0) == pen.tensors[1].size(0),
                        "{}: the spatial {} and feature {} weights must be [N, ...] and [N, C] "
                        "with the same N (neurons)",
                        where, pen.tensors[0].sizes(), pen.tensors[1].sizes());
      }
      penalties_.push_back(std::move(pen));
    }
    if (options.contains("readout_bias")) {
      const json& rb = options.at("readout_bias");
      const std::string name = rb.at("param").get<std::string>();
      torch::Tensor b = tensor_named("$.torchscript.readout_bias", name);
      NS_CHECK(b.dim() == 1 && b.size(0) == static_cast<std::int64_t>(mean_response.size()),
                    "$.torchscript.readout_bias: '{}' has shape {}, expected [{}] (one per neuron)",
                    name, b.sizes(), mean_response.size());
      const bool softplus = rb.value("output", std::string("softplus")) == "softplus";
      std::vector<float> v;
      for (double m : mean_response) v.push_back(readout_bias_for(m, softplus));
      torch::NoGradGuard no_grad;
      b.copy_(torch::tensor(v).to(b.device()));
    }
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    const c10::IValue out = m_.forward({x});
    NS_CHECK(out.isTensor(), "torchscript module '{}': forward returned {}, "
                  "expected a tensor [B, neurons]", path_, out.tagKind());
    return out.toTensor();
  }
  torch::Tensor regularizer() override {
    torch::Tensor total = torch::zeros({}, trainable_.front().options());
    for (const auto& p : penalties_) {
      if (p.weight <= 0) continue;
      if (p.kind == "smoothness") {
        total = total + p.weight * laplacian_penalty(p.tensors[0]);
      } else if (p.kind == "group_sparsity") {
        for (const auto& t : p.tensors) total = total + p.weight * group_penalty(t);
      } else if (p.tensors.size() == 2) {
        total = total + p.weight * readout_penalty(p.tensors[0], p.tensors[1]);
      } else {
        total = total + p.weight * p.tensors[0].abs().sum();
      }
    }
    return total;
  }
  std::vector<torch::Tensor> parameters() override { return trainable_; }
  void train(bool on) override { m_.train(on); }
  std::string save_blob() const override {
    torch::serialize::OutputArchive archive;
    json names = json::array();
    for (std::size_t i = 0; i < state_.size(); ++i) {
      names.push_back(state_[i].first);
      archive.write("t" + std::to_string(i), state_[i].second.detach().to(torch::kCPU),
                    /*is_buffer=*/true);
    }
    archive.write("names", bytes_tensor(names.dump()), true);
    std::ostringstream os;
    archive.save_to(os);
    return os.str();
  }
  void load_blob(const std::string& blob, const torch::Device& device) override {
    torch::serialize::InputArchive archive;
    std::istringstream is(blob);
    archive.load_from(is, device);
    torch::Tensor t;
    archive.read("names", t, true);
    const json names = json::parse(tensor_bytes(t));
    NS_CHECK(names.size() == state_.size(), "the saved state has {} tensors, the module {}",
             names.size(), state_.size());
    torch::NoGradGuard no_grad;
    for (std::size_t i = 0; i < state_.size(); ++i) {
      NS_CHECK(names[i] == state_[i].first, "the saved state's tensor {} is {}, the module's {}", i,
               names[i].dump(), state_[i].first);
      torch::Tensor v;  // a fresh handle: read() into a defined tensor re-points that tensor
      archive.read("t" + std::to_string(i), v, true);
      state_[i].second.copy_(v);
    }
  }
  const char* best_file() const override { return "best_state.pt"; }
  std::int64_t parameter_count() const override {
    std::int64_t n = 0;
    for (const auto& p : trainable_) n += p.numel();
    return n;
  }
  json describe() const override {
    json regs = json::array();
    for (const auto& p : penalties_)
      regs.push_back({{"kind", p.kind}, {"params", p.names}, {"weight", p.weight}});
    return {{"module", path_}, {"regularizers", regs}, {"frozen_parameters", frozen_}};
  }
  void write_outputs(const fs::path& dir) const override {
    // The best model as TorchScript, in evaluation mode: torch.jit.load("model.pt") in Python.
    torch::jit::Module copy = m_.deepcopy();
    copy.eval();
    copy.to(torch::kCPU);
    core::write_atomic_with(dir / "model.pt", [&](const fs::path& tmp) { copy.save(tmp.string()); });
  }

 private:
  std::string path_;
  torch::jit::Module m_;
  std::vector<torch::Tensor> trainable_;
  std::vector<std::string> frozen_;
  std::vector<std::pair<std::string, torch::Tensor>> state_;  ///< buffers, then parameters
  std::vector<Penalty> penalties_;
};

}  // namespace

std::unique_ptr<Net> make_script_net(const std::string& module_path, const json& options,
                                     const json& params, const std::vector<double>& mean_response,
                                     const torch::Device& device) {
  return std::make_unique<ScriptNet>(module_path, options, params, mean_response, device);
}

}  // namespace ns::models::neural
