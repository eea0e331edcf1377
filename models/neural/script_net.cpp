// A user's TorchScript module as a Net (models/neural/net.hpp): the torchscript family's
// "neural" task. The module is loaded fresh for every trial (models/script_module.hpp), so no
// trial sees another's weights.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>

#include "core/error.hpp"
#include "models/neural/net.hpp"
#include "models/script_module.hpp"
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

class ScriptNet final : public Net {
 public:
  ScriptNet(const std::string& path, const json& options, const json& params,
            const std::vector<double>& mean_response, const torch::Device& device)
      : m_(path, device) {
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
      for (const auto& n : pen.names) pen.tensors.push_back(m_.parameter(where, n));
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
      torch::Tensor b = m_.parameter("$.torchscript.readout_bias", name);
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
    return m_.forward(x, "[B, neurons]");
  }
  torch::Tensor regularizer() override {
    torch::Tensor total = torch::zeros({}, m_.trainable().front().options());
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
  std::vector<torch::Tensor> parameters() override { return m_.trainable(); }
  void train(bool on) override { m_.train(on); }
  std::string save_blob() const override { return m_.save_blob(); }
  void load_blob(const std::string& blob, const torch::Device& device) override {
    m_.load_blob(blob, device);
  }
  const char* best_file() const override { return "best_state.pt"; }
  std::int64_t parameter_count() const override { return m_.trainable_count(); }
  json describe() const override {
    json regs = json::array();
    for (const auto& p : penalties_)
      regs.push_back({{"kind", p.kind}, {"params", p.names}, {"weight", p.weight}});
    return {{"module", m_.path()}, {"regularizers", regs}, {"frozen_parameters", m_.frozen()}};
  }
  void write_outputs(const fs::path& dir) const override {
    // The best model as TorchScript, in evaluation mode: torch.jit.load("model.pt") in Python.
    m_.export_to(dir / "model.pt");
  }

 private:
  ScriptModule m_;
  std::vector<Penalty> penalties_;
};

}  // namespace

std::unique_ptr<Net> make_script_net(const std::string& module_path, const json& options,
                                     const json& params, const std::vector<double>& mean_response,
                                     const torch::Device& device) {
  return std::make_unique<ScriptNet>(module_path, options, params, mean_response, device);
}

}  // namespace ns::models::neural
