// A user's TorchScript module as a Classifier (models/classifier/net.hpp): the torchscript
// family's "classification" task. Loaded fresh for every trial (models/script_module.hpp).
#include "core/file.hpp"
#include "models/classifier/net.hpp"
#include "models/script_module.hpp"

namespace ns::models::classifier {
namespace {

namespace fs = std::filesystem;
constexpr const char* kBestFile = "best_state.pt";

class ScriptClassifier final : public Classifier {
 public:
  ScriptClassifier(const std::string& path, const torch::Device& device) : m_(path, device) {}

  torch::Tensor forward(const torch::Tensor& x) override {
    return m_.forward(x, "[B, classes] of logits");
  }
  std::vector<torch::Tensor> parameters() override { return m_.trainable(); }
  void train(bool on) override { m_.train(on); }
  void save_state(torch::serialize::OutputArchive& archive) const override {
    m_.save_state(archive);
  }
  void load_state(torch::serialize::InputArchive& archive) override { m_.load_state(archive); }
  void save_best(const fs::path& dir) const override {
    core::write_atomic_with(dir / kBestFile, [&](const fs::path& tmp) {
      torch::serialize::OutputArchive archive;
      m_.save_state(archive);
      archive.save_to(tmp.string());
    });
  }
  void load_best(const fs::path& dir, const torch::Device& device) override {
    torch::serialize::InputArchive archive;
    archive.load_from((dir / kBestFile).string(), device);
    m_.load_state(archive);
  }
  std::int64_t parameter_count() const override { return m_.trainable_count(); }
  nlohmann::json describe() const override {
    return {{"module", m_.path()}, {"frozen_parameters", m_.frozen()}};
  }
  void write_outputs(const fs::path& dir) const override {
    // The best model as TorchScript, in evaluation mode: torch.jit.load("model.pt") in Python.
    m_.export_to(dir / "model.pt");
  }

 private:
  ScriptModule m_;
};

}  // namespace

std::unique_ptr<Classifier> make_script_classifier(const std::string& path,
                                                   const torch::Device& device) {
  return std::make_unique<ScriptClassifier>(path, device);
}

}  // namespace ns::models::classifier
