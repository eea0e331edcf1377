#include "models/classifier/family.hpp"

#include <fmt/ranges.h>

#include <cmath>
#include <memory>
#include <mutex>
#include <set>

#include "core/error.hpp"
#include "models/classifier/convnet.hpp"
#include "models/classifier/idx.hpp"
#include "models/classifier/net.hpp"
#include "models/classifier/runner.hpp"
#include "models/script_module.hpp"

namespace ns::models::classifier {

namespace {

// The image geometry check_params builds at: the checked data's, else Fashion-MNIST's.
Geometry geometry_of(const engine::DataFacts& d) {
  if (!d.checked) return Geometry{};
  return Geometry{d.channels, d.height, d.width, d.outputs};
}

ConvNetOptions convnet_options(const nlohmann::json& params, const Geometry& g) {
  ConvNetOptions mo(g.channels, g.height, g.width, g.classes);
  mo.update_from_json(params);
  return mo;
}

// What check_data learns from an IDX data block: convnet and torchscript's classification share it.
engine::DataFacts idx_data_facts(const nlohmann::json& data, const std::string& json_path) {
  const IdxDataOptions opts = IdxDataOptions::from_json(data, json_path);
  const IdxDataset d = load_idx_dir(opts, kClasses);
  engine::DataFacts f;
  f.checked = true;
  f.source = opts.dir;
  f.examples = d.train.count() + d.test.count();
  f.train = d.train.count();
  f.fold_examples = f.train;  // folds partition all training images (val_split's pool)
  f.channels = 1;
  f.height = d.train.rows();
  f.width = d.train.cols();
  f.outputs = kClasses;
  f.output_name = "classes";
  return f;
}

// The IDX files an IDX data block reads (train and t10k images and labels, each the .gz copy
// when there is one, as find_idx_file picks), for the input digests.
std::vector<engine::InputPath> idx_data_inputs(const nlohmann::json& data) {
  const IdxDataOptions opts = IdxDataOptions::from_json(data, "$.data");
  std::vector<engine::InputPath> out;
  for (const char* stem : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                           "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}) {
    try {
      out.push_back({find_idx_file(opts.dir, stem), "data"});
    } catch (const Error&) {
      // missing: check_data reports it
    }
  }
  return out;
}

// The training defaults, metrics and resource of the classifier loop (runner.cpp); `name` is the
// family's, `model_defaults` its own parameters.
sweeps::FamilySchema classifier_schema(const std::string& name, nlohmann::json model_defaults) {
  sweeps::FamilySchema s;
  s.name = name;
  s.model_defaults = std::move(model_defaults);
  s.training_defaults = TrainOptions().to_json();
  s.metrics = {"val_accuracy", "val_loss",   "test_accuracy", "test_loss",
               "epochs",       "best_epoch", "s_per_epoch"};
  s.resource = "epochs";
  // What a resumed run applies anew (PBT): the learning rate and weight decay (set on the
  // optimizer after it loads), dropout (a module option, not a weight).
  s.mutable_params = {"lr", "weight_decay"};
  if (s.model_defaults.contains("dropout")) s.mutable_params.push_back("dropout");
  return s;
}

// Epochs x training images: what a trial's cost scales with before its model's own cost.
double epoch_images(const TrainOptions& t, const engine::DataFacts& data) {
  const double train = data.checked ? static_cast<double>(data.train) : 1.0;
  return static_cast<double>(t.max_epochs) * (1 - t.val_split) * train;
}

// check_params builds each distinct architecture once per geometry (a grid repeats the same one
// for every learning rate and batch size); the set lives in the family object, not in a global.
class ArchitectureCheck {
 public:
  void check(const nlohmann::json& params, const Geometry& g) {
    const ConvNetOptions mo = convnet_options(params, g);
    TrainOptions().update_from_json(params);
    const std::string key = mo.to_json().dump();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (ok_.count(key)) return;
    }
    mo.feature_shape();  // a clear message for too many pooling blocks, before any allocation
    try {
      torch::NoGradGuard no_grad;
      ConvNet model(mo);
      model->eval();
      const auto y = model->forward(torch::zeros({2, g.channels, g.height, g.width}));
      NS_CHECK(y.sizes() == torch::IntArrayRef({2, g.classes}),
               "convnet: the model maps a {}x{} image to {} outputs, expected [2, {}]", g.height,
               g.width, fmt::join(y.sizes(), "x"), g.classes);
    } catch (const c10::Error& e) {
      NS_FAIL_CODE(kExitBadInput,
                   "convnet: the parameters {} give a model that cannot run on a "
                   "{}x{} image: {}",
                   mo.to_json().dump(), g.height, g.width, e.what_without_backtrace());
    }
    std::lock_guard<std::mutex> lock(mu_);
    ok_.insert(key);
  }

 private:
  std::mutex mu_;
  std::set<std::string> ok_;
};

/// Multiply-adds of one image's forward pass (convolutions and dense layers; BN, pooling
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

class ConvNetFamily final : public engine::ModelFamily {
 public:
  ConvNetFamily() : ModelFamily(make_schema()) {}

  std::string description() const override {
    return "convnet: CNN image classifier (conv blocks with optional batch norm and pooling, "
           "dense head) on IDX images such as Fashion-MNIST; data {\"kind\": \"idx\", \"dir\": ...}";
  }
  engine::DataFacts check_data(const nlohmann::json& data,
                               const std::string& json_path) const override {
    return idx_data_facts(data, json_path);
  }
  void check_params(const nlohmann::json& params, const engine::DataFacts& data) const override {
    arch_.check(params, geometry_of(data));
  }
  std::string validation() const override {
    return "each distinct architecture built once on CPU and run on a 2-image batch";
  }
  // Epoch budget x training images per epoch x (forward + backward ~ 3x forward) per image, plus
  // a per-batch overhead of about 50k multiply-adds' worth per image at batch 1 (optimizer step,
  // dispatch). Early stopping makes real trials shorter; only ratios matter.
  double relative_cost(const nlohmann::json& params, const engine::DataFacts& data) const override {
    const ConvNetOptions mo = convnet_options(params, geometry_of(data));
    TrainOptions t;
    t.update_from_json(params);
    const double per_image = 3 * forward_macs(mo) + 5e4 / static_cast<double>(t.batch_size);
    return epoch_images(t, data) * per_image;
  }
  std::vector<engine::InputPath> input_files(const nlohmann::json& data, const nlohmann::json&,
                                             const std::vector<nlohmann::json>&) const override {
    return idx_data_inputs(data);
  }
  // Folds partition the training images (runner.cpp); the t10k test images stay.
  bool supports_folds() const override { return true; }
  std::unique_ptr<engine::TrialRunner> make_runner() const override {
    return std::make_unique<ConvNetRunner>();
  }

 private:
  static sweeps::FamilySchema make_schema() {
    return classifier_schema("convnet", ConvNetOptions(1, 28, 28, kClasses).to_json());
  }
  mutable ArchitectureCheck arch_;
};

// The torchscript family's "classification" task: a user's TorchScript module in the convnet's
// place, trained by the same loop on the same IDX data (models/classifier/net.hpp).
class ScriptClassificationTask final : public engine::ModelFamily {
 public:
  ScriptClassificationTask()
      : ModelFamily(classifier_schema("torchscript", {{"module", ""}})) {}

  std::string description() const override {
    return "\"task\": \"classification\": images in, logits [B, classes] out, trained and "
           "scored as convnet (cross-entropy, accuracy) on IDX data";
  }
  sweeps::FamilySchema schema_for(const nlohmann::json& options,
                                  const std::string& where) const override {
    for (auto& [k, v] : options.items())
      NS_CHECK(k == "task", "{}.{}: unknown key for \"task\": \"classification\"; allowed: task "
                            "(regularize a classifier with \"weight_decay\" or dropout in the "
                            "module)",
               where, k);
    return schema();
  }
  engine::DataFacts check_data(const nlohmann::json& data,
                               const std::string& json_path) const override {
    return idx_data_facts(data, json_path);
  }
  void check_params(const nlohmann::json& params, const engine::DataFacts& g) const override {
    TrainOptions().update_from_json(params);
    const std::string module = module_param(params);
    if (!g.checked) return;
    auto net = make_script_classifier(module, torch::Device(torch::kCPU));
    net->train(false);
    const torch::Tensor out = run_on_two_images(
        module, g.channels, g.height, g.width,
        [&](const torch::Tensor& x) { return net->forward(x); });
    NS_CHECK(out.dim() == 2 && out.size(0) == 2 && out.size(1) == g.outputs,
             "module '{}' returned shape {} for 2 images of {}x{}x{}, expected [2, {}] (one "
             "logit per class)",
             module, out.sizes(), g.channels, g.height, g.width, g.outputs);
  }
  std::string validation() const override {
    return "each configuration's module loaded once on CPU and run on a 2-image batch";
  }
  // Epochs x training images: the module's own cost is unknown, and only ratios matter.
  double relative_cost(const nlohmann::json& params, const engine::DataFacts& data) const override {
    TrainOptions t;
    t.update_from_json(params);
    return epoch_images(t, data);
  }
  // The IDX files and every module the configurations name.
  std::vector<engine::InputPath> input_files(
      const nlohmann::json& data, const nlohmann::json&,
      const std::vector<nlohmann::json>& configurations) const override {
    std::vector<engine::InputPath> out = idx_data_inputs(data);
    for (auto& m : module_inputs(configurations)) out.push_back(std::move(m));
    return out;
  }
  bool supports_folds() const override { return true; }  // convnet's loop (runner.cpp)
  std::unique_ptr<engine::TrialRunner> make_runner() const override {
    return make_script_classifier_runner();
  }
};

}  // namespace

std::unique_ptr<engine::ModelFamily> convnet_family() { return std::make_unique<ConvNetFamily>(); }

std::unique_ptr<engine::ModelFamily> torchscript_classification_task() {
  return std::make_unique<ScriptClassificationTask>();
}

}  // namespace ns::models::classifier
