#include "models/classifier/family.hpp"

#include <cmath>
#include <memory>
#include <mutex>
#include <set>

#include "core/error.hpp"
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

/// Multiply-adds of one 28x28 image's forward pass (convolutions and dense layers; BN, pooling
/// and activations ignored): the per-image part of a trial's cost.
double forward_macs(const ConvNetOptions& o) {
  double macs = 0, h = static_cast<double>(o.height()), w = static_cast<double>(o.width());
  double cin = static_cast<double>(o.in_channels()), c = static_cast<double>(o.filters());
  const double k2 = static_cast<double>(o.kernel_size() * o.kernel_size());
  for (std::int64_t b = 0; b < o.blocks(); ++b) {
    for (std::int64_t i = 0; i < o.convs_per_block(); ++i) {
      macs += k2 * cin * c * h * w;
      cin = c;
    }
    if (o.pool() != "none") {
      h = std::floor(h / 2);
      w = std::floor(w / 2);
    }
    if (o.filter_growth() == "double") c *= 2;
  }
  const double flat = cin * h * w, units = static_cast<double>(o.dense_units());
  const double classes = static_cast<double>(o.num_classes());
  macs += units > 0 ? flat * units + units * classes : flat * classes;
  return macs;
}

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
  f.validation = "each distinct architecture built once on CPU and run on a 2-image batch";
  // Epoch budget x training images per epoch x (forward + backward ~ 3x forward) per image, plus
  // a per-batch overhead of about 50k multiply-adds' worth per image at batch 1 (optimizer step,
  // dispatch). Early stopping makes real trials shorter; only ratios matter.
  f.relative_cost = [](const nlohmann::json& params) {
    ConvNetOptions mo(1, 28, 28, 10);
    mo.update_from_json(params);
    TrainOptions t;
    t.update_from_json(params);
    const double per_image = 3 * forward_macs(mo) + 5e4 / static_cast<double>(t.batch_size);
    return static_cast<double>(t.max_epochs) * (1 - t.val_split) * per_image;
  };
  f.make_runner = [] { return std::make_unique<ConvNetRunner>(); };
  return f;
}

}  // namespace ns::models::classifier
