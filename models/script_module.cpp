#include "models/script_module.hpp"

#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <set>
#include <sstream>

#include "core/error.hpp"
#include "core/file.hpp"
#include "core/json_text.hpp"
#include "engine/trial_runner.hpp"
#include "models/torch_common.hpp"

namespace ns::models {
namespace {

namespace fs = std::filesystem;

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
    const std::string type =
        sub.value.type()->name() ? sub.value.type()->name()->qualifiedName() : "";
    if (type.find("Dropout") != std::string::npos || type.find("BatchNorm") != std::string::npos)
      out.push_back(sub.name.empty() ? type : sub.name);
  }
  return out;
}

}  // namespace

ScriptModule::ScriptModule(const std::string& path, const torch::Device& device) : path_(path) {
  torch::jit::getProfilingMode() = false;
  NS_CHECK(fs::exists(path), "torchscript module '{}': no such file", path);
  core::require_regular_file(path, "parameter 'module'");  // torch::jit::load would block on a FIFO
  try {
    m_ = torch::jit::load(path, device);
  } catch (const std::exception& e) {
    NS_FAIL_CODE(kExitBadInput,
                 "torchscript module '{}' is not a TorchScript file ({}); save it from Python "
                 "with torch.jit.script(model).save(path)",
                 path, engine::without_backtrace(e.what()).substr(0, 300));
  }
  NS_CHECK(m_.find_method("forward").has_value(), "torchscript module '{}' has no forward method",
           path);
  const std::vector<std::string> modal = mode_dependent_submodules(m_);
  NS_CHECK(modal.empty() || reads_training_flag(m_),
           "torchscript module '{}' was traced (torch.jit.trace), not scripted: its forward "
           "never reads the training flag, so {} behave as they did when it was traced, in "
           "training and in evaluation alike; export it with torch.jit.script(model).save(path)",
           path, fmt::join(modal, ", "));
  for (const auto& b : m_.named_buffers(/*recurse=*/true))
    state_.emplace_back("b:" + b.name, b.value);
  for (const auto& p : m_.named_parameters(/*recurse=*/true)) {
    named_params_.emplace_back(p.name, p.value);
    state_.emplace_back("p:" + p.name, p.value);
    if (p.value.requires_grad()) {
      trainable_.push_back(p.value);
    } else {
      frozen_.push_back(p.name);
    }
  }
  NS_CHECK(!trainable_.empty(),
           "torchscript module '{}' has no parameter that requires grad: nothing to train", path);
}

torch::Tensor ScriptModule::forward(const torch::Tensor& x, const char* expected) {
  const c10::IValue out = m_.forward({x});
  NS_CHECK(out.isTensor(), "torchscript module '{}': forward returned {}, expected a tensor {}",
           path_, out.tagKind(), expected);
  return out.toTensor();
}

std::int64_t ScriptModule::trainable_count() const {
  std::int64_t n = 0;
  for (const auto& p : trainable_) n += p.numel();
  return n;
}

torch::Tensor ScriptModule::parameter(const std::string& where, const std::string& name) const {
  std::vector<std::string> names;
  for (const auto& [n, t] : named_params_) {
    if (n == name) return t;
    names.push_back(n);
  }
  NS_FAIL_CODE(kExitBadInput, "{}: '{}' is not a parameter of the module '{}'; its parameters: {}",
               where, name, path_, fmt::join(names, ", "));
}

void ScriptModule::save_state(torch::serialize::OutputArchive& archive) const {
  nlohmann::json names = nlohmann::json::array();
  for (std::size_t i = 0; i < state_.size(); ++i) {
    names.push_back(state_[i].first);
    archive.write("t" + std::to_string(i), state_[i].second.detach().to(torch::kCPU),
                  /*is_buffer=*/true);
  }
  archive.write("names", bytes_tensor(names.dump()), true);
}

void ScriptModule::load_state(torch::serialize::InputArchive& archive) {
  torch::Tensor t;
  archive.read("names", t, true);
  // The checkpoint's list of tensor names (a flat array; bounded like any JSON read back).
  const nlohmann::json names = core::parse_json(tensor_bytes(t), "the checkpoint's tensor names",
                                                core::JsonLimits{std::size_t{64} << 20, 4, true, false});
  NS_CHECK(names.is_array(), "the checkpoint's tensor names: expected a JSON array");
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

std::string ScriptModule::save_blob() const {
  torch::serialize::OutputArchive archive;
  save_state(archive);
  std::ostringstream os;
  archive.save_to(os);
  return os.str();
}

void ScriptModule::load_blob(const std::string& blob, const torch::Device& device) {
  torch::serialize::InputArchive archive;
  std::istringstream is(blob);
  archive.load_from(is, device);
  load_state(archive);
}

void ScriptModule::export_to(const fs::path& file) const {
  torch::jit::Module copy = m_.deepcopy();
  copy.eval();
  copy.to(torch::kCPU);
  core::write_atomic_with(file, [&](const fs::path& tmp) { copy.save(tmp.string()); });
}

std::string module_param(const nlohmann::json& params) {
  const std::string module = params.at("module").get<std::string>();
  NS_CHECK(!module.empty(), "module: name the TorchScript file (\"fixed\": {{\"module\": "
                            "\"model.pt\"}}, or a list in \"grid\")");
  return module;
}

std::vector<engine::InputPath> module_inputs(const std::vector<nlohmann::json>& configurations) {
  std::vector<engine::InputPath> out;
  std::set<std::string> seen;
  for (const auto& c : configurations) {
    const auto it = c.find("module");
    if (it == c.end() || !it->is_string()) continue;
    const std::string module = it->get<std::string>();
    std::error_code ec;
    if (module.empty() || !seen.insert(module).second || !fs::is_regular_file(module, ec)) continue;
    out.push_back({module, "module"});
  }
  return out;
}

torch::Tensor run_on_two_images(const std::string& module, std::int64_t channels,
                                std::int64_t height, std::int64_t width,
                                const std::function<torch::Tensor(const torch::Tensor&)>& forward) {
  torch::NoGradGuard no_grad;
  try {
    return forward(torch::zeros({2, channels, height, width}));
  } catch (const c10::Error& e) {
    NS_FAIL_CODE(kExitBadInput, "module '{}' fails on a batch of 2 images of {}x{}x{}: {}",
                 module, channels, height, width,
                 engine::without_backtrace(e.what()).substr(0, 400));
  }
}

}  // namespace ns::models
