#include "models/classifier/family.hpp"

#include <memory>
#include <mutex>
#include <set>

#include "engine/error.hpp"
#include "models/classifier/convnet.hpp"
#include "models/classifier/idx.hpp"
#include "models/classifier/runner.hpp"

namespace ns::models::classifier {

namespace {

// check_params builds each distinct architecture once (a grid repeats the same one for every
// learning rate and batch size); the set lives in the family object, not in a global.
struct ArchitectureCheck {
  std::mutex mu;
  std::set<std::string> ok;

  void check(const nlohmann::json& params) {
    ConvNetOptions mo(1, 28, 28, 10);
    mo.update_from_json(params);
    TrainOptions().update_from_json(params);
    const std::string key = mo.to_json().dump();
    {
      std::lock_guard<std::mutex> lock(mu);
      if (ok.count(key)) return;
    }
    mo.feature_shape();  // a clear message for too many pooling blocks, before any allocation
    try {
      torch::NoGradGuard no_grad;
      ConvNet model(mo);
      model->eval();
      const auto y = model->forward(torch::zeros({2, 1, 28, 28}));
      NS_CHECK(y.sizes() == torch::IntArrayRef({2, 10}),
               "convnet: the model maps a 28x28 image to {} outputs, expected [2, 10]",
               fmt::join(y.sizes(), "x"));
    } catch (const c10::Error& e) {
      NS_FAIL_CODE(kExitBadInput,
                   "convnet: the parameters {} give a model that cannot run on a "
                   "28x28 image: {}",
                   mo.to_json().dump(), e.what_without_backtrace());
    }
    std::lock_guard<std::mutex> lock(mu);
    ok.insert(key);
  }
};

}  // namespace

engine::ModelFamily convnet_family() {
  engine::ModelFamily f;
  f.schema.name = "convnet";
  f.schema.model_defaults = ConvNetOptions(1, 28, 28, 10).to_json();
  f.schema.training_defaults = TrainOptions().to_json();
  f.schema.metrics = {"val_accuracy", "val_loss",   "test_accuracy", "test_loss",
                      "epochs",       "best_epoch", "s_per_epoch"};
  f.description =
      "convnet: CNN image classifier (conv blocks with optional batch norm and pooling, dense "
      "head) on IDX images such as Fashion-MNIST; data {\"kind\": \"idx\", \"dir\": ...}";
  f.check_data = [](const nlohmann::json& data, const std::string& json_path) {
    load_idx_dir(IdxDataOptions::from_json(data, json_path));
  };
  auto arch = std::make_shared<ArchitectureCheck>();
  f.check_params = [arch](const nlohmann::json& params) { arch->check(params); };
  f.make_runner = [] { return std::make_unique<ConvNetRunner>(); };
  return f;
}

}  // namespace ns::models::classifier
