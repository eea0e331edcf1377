#include "models/neural/family.hpp"

#include <torch/torch.h>

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>

#include "core/error.hpp"
#include "core/json.hpp"
#include "core/log.hpp"
#include "models/neural/dataset.hpp"
#include "models/neural/maskcnn.hpp"
#include "models/neural/metrics.hpp"
#include "models/neural/net.hpp"
#include "models/neural/options.hpp"
#include "models/neural/packed.hpp"
#include "models/neural/runner.hpp"
#include "models/script_module.hpp"
#include "models/torch_common.hpp"

namespace ns::models::neural {
namespace {

// What check_data learns from a neural data block (HDF5 file or simulated population): maskcnn
// and torchscript share it.
engine::DataFacts neural_data_facts(const nlohmann::json& data, const std::string& json_path) {
  const DataSpec spec = parse_data_spec(data, json_path);
  engine::DataFacts f;
  f.checked = true;
  f.output_name = "neurons";
  if (spec.kind == DataSpec::Kind::kHdf5) {
    const NeuralData d = read_h5(spec.path, spec.split_seed, spec.ccnorm);
    for (const std::string& w : d.warnings) log::warn("{}", w);
    f.source = spec.path;
    f.examples = d.images;
    f.channels = d.channels;
    f.height = d.height;
    f.width = d.width;
    f.outputs = d.neurons;
    f.repeats = d.repeats;
    f.train = static_cast<std::int64_t>(d.indices(kTrain).size());
    f.fold_examples = f.train + static_cast<std::int64_t>(d.indices(kVal).size());
  } else {
    f.source = "simulated data";
    f.examples = spec.sim.images;
    f.channels = 1;
    f.height = f.width = spec.sim.size;
    f.outputs = spec.sim.neurons;
    f.repeats = spec.sim.repeats;
    f.train = static_cast<std::int64_t>(std::floor(0.64 * spec.sim.images + 0.5));
    // The simulated population's split is random_split's (simulate.cpp): its test part's size
    // does not depend on the seed.
    const std::vector<std::int8_t> split = random_split(spec.sim.images, 0);
    f.fold_examples = static_cast<std::int64_t>(part_indices(split, kTrain).size() +
                                                part_indices(split, kVal).size());
  }
  return f;
}

// The file a neural data block reads (HDF5; none for simulated data), for the input digests.
std::vector<engine::InputPath> neural_data_inputs(const nlohmann::json& data) {
  const DataSpec spec = parse_data_spec(data, "$.data");
  std::error_code ec;
  if (spec.kind != DataSpec::Kind::kHdf5 || !std::filesystem::is_regular_file(spec.path, ec)) return {};
  return {{spec.path, "data"}};
}

// The most parameters a mask CNN may have (1 GiB of float32 weights) and the most values one
// layer's activations may hold for a batch (8 GiB): sane maxima (docs/guide/specs.md, "Sweep specs") checked
// before anything is allocated, so a size no machine could hold is a clear message, not a
// LibTorch backtrace or the out-of-memory killer.
constexpr double kMaxParameters = double(std::int64_t{1} << 28);
constexpr double kMaxActivations = double(std::int64_t{1} << 31);

void check_model_size(const ModelOptions& m, std::int64_t batch) {
  const auto [map_h, map_w] = m.map_size();
  const double c = double(m.channels()), k1 = double(m.k1()), k = double(m.k_later());
  const double params = double(m.in_channels()) * c * k1 * k1 +
                        double(m.layers() - 1) * c * c * k * k +
                        double(m.neurons()) * (double(map_h * map_w) + c + 1);
  NS_CHECK(params <= kMaxParameters,
           "channels = {}, layers = {}, k1 = {}, k_later = {} for {} neurons on {}x{} images give "
           "a mask CNN of {:.3g} parameters, more than the {:.0f} allowed; lower \"channels\", "
           "\"layers\" or the kernel sizes",
           m.channels(), m.layers(), m.k1(), m.k_later(), m.neurons(), m.height(), m.width(),
           params, kMaxParameters);
  const double acts = double(batch) * c * double(m.height()) * double(m.width());
  NS_CHECK(acts <= kMaxActivations,
           "a batch of {} images of {}x{} with channels = {} holds {:.3g} activations per "
           "layer, more than the {:.0f} allowed; lower \"batch_size\", \"eval_batch_size\" "
           "or \"channels\"",
           batch, m.height(), m.width(), m.channels(), acts, kMaxActivations);
}

// What maskcnn and torchscript share: the protocol's training settings, the metrics and their
// definitions, and the resource. Early stopping counts training iterations; rungs are checked
// at evaluations (every eval_every iterations), so rung resources are best multiples of it.
sweeps::FamilySchema neural_schema(const std::string& name, nlohmann::json model_defaults) {
  sweeps::FamilySchema s;
  s.name = name;
  s.model_defaults = std::move(model_defaults);
  s.training_defaults = training_defaults();
  s.metrics = maskcnn_metrics();
  s.resource = "iterations";
  // What a resumed run applies anew (PBT): the learning rate (the protocol sets it at every
  // start) and the regularizer weights (read from the parameters when the trial is built).
  s.mutable_params = {"lr"};
  for (const char* r : {"smoothness", "readout_scale", "group_sparsity"})
    if (s.model_defaults.contains(r)) s.mutable_params.push_back(r);
  s.metric_definitions = {{"ccnorm", kCcnormEstimator}};
  s.legacy_metric_definitions = {{"ccnorm", kCcnormLegacyEstimator}};
  return s;
}

class MaskCnnFamily final : public engine::ModelFamily {
 public:
  MaskCnnFamily() : ModelFamily(make_schema()) {}

  std::string description() const override {
    return "mask CNN of neural population responses (Klindt et al. 2017; Lee-lab "
           "maskcnn_polished): input BN, conv stack, pooling, factorized readout; Lee-lab training "
           "protocol; Pearson, CCnorm (Schoppe 2016) and FEV on val/test; HDF5 or simulated V1 data";
  }

  engine::DataFacts check_data(const nlohmann::json& data,
                               const std::string& json_path) const override {
    return neural_data_facts(data, json_path);
  }

  void check_params(const nlohmann::json& params, const engine::DataFacts& g) const override {
    loss_options_from_json(params);
    const TrainOptions t = train_options_from_json(params);
    if (!g.checked) {
      model_options_from_json(params, 1, 1, 1, 1);  // types, ranges and choices only
      return;
    }
    NS_CHECK(t.batch_size() <= g.train,
             "batch_size {} is larger than the training set of {} ({} images); lower "
             "\"batch_size\"",
             t.batch_size(), g.source, g.train);
    const ModelOptions m = model_options_from_json(params, g.channels, g.height, g.width, g.outputs);
    // Clear messages for kernels / pooling that do not fit and for sizes no machine holds.
    check_model_size(m, std::max(t.batch_size(), std::min(t.eval_batch_size(), g.examples)));
    // Build once on CPU and run a tiny batch, so any other shape problem surfaces now.
    torch::NoGradGuard no_grad;
    MaskCnn model(m);
    auto out = model->forward(torch::zeros({2, g.channels, g.height, g.width}));
    NS_CHECK(out.size(0) == 2 && out.size(1) == g.outputs,
             "mask CNN produced shape [{}, {}] for 2 images, expected [2, {}]", out.size(0),
             out.size(1), g.outputs);
  }

  std::string validation() const override {
    return "each configuration's mask CNN built once on CPU and run on a 2-image batch";
  }

  // Iteration budget x batch x convolution multiply-adds per image (forward + two gradients ~ 3x;
  // the readout, BN and activations ignored; conv maps taken at the input size). Early stopping
  // makes real trials shorter; only ratios between trials of one sweep matter.
  double relative_cost(const nlohmann::json& params, const engine::DataFacts& g) const override {
    if (!g.checked) NS_FAIL_CODE(kExitInternal, "maskcnn: relative_cost needs the image size that check_data returns");
    const TrainOptions t = train_options_from_json(params);
    const ModelOptions m = model_options_from_json(params, g.channels, g.height, g.width, g.outputs);
    const double c = static_cast<double>(m.channels());
    const double k1 = static_cast<double>(m.k1()), k = static_cast<double>(m.k_later());
    const double macs = static_cast<double>(g.height * g.width) *
                        (k1 * k1 * c + static_cast<double>(m.layers() - 1) * k * k * c * c);
    return static_cast<double>(t.phases() * t.max_iters_per_phase() * t.batch_size()) * 3 * macs;
  }

  // Trials whose fused step has the same shapes (models/neural/packed.hpp): architecture, input,
  // neurons and batch size. Learning rates, regularizer weights, loss, schedule and seeds may
  // differ between members.
  std::string pack_key(const nlohmann::json& params, const engine::DataFacts& g) const override {
    if (!g.checked) return "";
    return pack_shape_key(
        model_options_from_json(params, g.channels, g.height, g.width, g.outputs),
        train_options_from_json(params));
  }

  std::vector<engine::InputPath> input_files(const nlohmann::json& data, const nlohmann::json&,
                                             const std::vector<nlohmann::json>&) const override {
    return neural_data_inputs(data);
  }

  // Folds partition the train + val images (fold_labels); the test images stay.
  bool supports_folds() const override { return true; }

  std::unique_ptr<engine::TrialRunner> make_runner() const override {
    tune_allocator();
    return make_maskcnn_runner();
  }

 private:
  static sweeps::FamilySchema make_schema() { return neural_schema("maskcnn", model_defaults()); }
};

// The torchscript family's "neural" task: a user's TorchScript module trained by the same
// protocol, on the same data, scored by the same code as maskcnn (models/neural/net.hpp).
class ScriptNeuralTask final : public engine::ModelFamily {
 public:
  ScriptNeuralTask() : ModelFamily(base_schema()) {}

  std::string description() const override {
    return "\"task\": \"neural\": images in, responses [B, neurons] out, trained and scored "
           "as maskcnn, with regularizers attached by parameter name";
  }

  sweeps::FamilySchema schema_for(const nlohmann::json& options,
                                  const std::string& where) const override {
    static const std::vector<std::string> keys = {"task", "smoothness", "readout_l1",
                                                  "group_sparsity", "readout_bias"};
    for (auto& [k, v] : options.items())
      NS_CHECK(std::find(keys.begin(), keys.end(), k) != keys.end(),
               "{}.{}: unknown key; allowed: {}", where, k, fmt::join(keys, ", "));
    const core::JsonFields f(options, where);
    sweeps::FamilySchema s = schema();
    for (const char* kind : {"smoothness", "readout_l1", "group_sparsity"}) {
      if (!options.contains(kind)) continue;
      const std::string at = fmt::format("{}.{}", where, kind);
      const nlohmann::json& r = f.object(kind);
      const core::JsonFields rf(r, at);
      for (auto& [k, v] : r.items())
        NS_CHECK(k == "param" || k == "params" || k == "weight",
                 "{}.{}: unknown key; allowed: param, params, weight", at, k);
      NS_CHECK(r.contains("param") != r.contains("params"),
               "{}: expected \"param\" (one parameter name) or \"params\" (a list)", at);
      if (r.contains("param")) rf.string("param", "", /*non_empty=*/true);
      if (r.contains("params")) {
        NS_CHECK(r.at("params").is_array() && !r.at("params").empty(),
                 "{}.params: expected a non-empty list of parameter names", at);
        for (const auto& n : r.at("params"))
          NS_CHECK(n.is_string() && !n.get<std::string>().empty(),
                   "{}.params: expected parameter names, got {}", at, core::shown(n));
      }
      // The weight is a sweep parameter of the same name; the block gives its default.
      s.model_defaults[kind] = rf.number("weight", 0, core::Interval::at_least(0));
    }
    if (options.contains("readout_bias")) {
      const std::string at = where + ".readout_bias";
      const core::JsonFields rf(f.object("readout_bias"), at);
      rf.string("param", "", /*non_empty=*/true);
      rf.choice("output", "softplus", {"softplus", "linear"});
    }
    return s;
  }

  engine::DataFacts check_data(const nlohmann::json& data,
                               const std::string& json_path) const override {
    return neural_data_facts(data, json_path);
  }

  // The regularizers attach by parameter name as the spec's block (g.options) says.
  void check_params(const nlohmann::json& params, const engine::DataFacts& g) const override {
    loss_kind_from_json(params);
    const TrainOptions t = train_options_from_json(params);
    const std::string module = module_param(params);
    if (!g.checked) return;
    NS_CHECK(t.batch_size() <= g.train,
             "batch_size {} is larger than the training set of {} ({} images); lower "
             "\"batch_size\"",
             t.batch_size(), g.source, g.train);
    // Loaded once on CPU and run on a 2-image batch: a wrong output shape, an unknown
    // parameter name or a traced module surfaces before anything is submitted.
    auto net = make_script_net(module, g.options, params,
                               std::vector<double>(static_cast<std::size_t>(g.outputs), 1.0),
                               torch::Device(torch::kCPU));
    net->train(false);
    const torch::Tensor out =
        run_on_two_images(module, g.channels, g.height, g.width,
                          [&](const torch::Tensor& x) { return net->forward(x); });
    NS_CHECK(out.dim() == 2 && out.size(0) == 2 && out.size(1) == g.outputs,
             "module '{}' returned shape {} for 2 images of {}x{}x{}, expected [2, {}] (one "
             "response per neuron)",
             module, out.sizes(), g.channels, g.height, g.width, g.outputs);
  }

  std::string validation() const override {
    return "each configuration's module loaded once on CPU and run on a 2-image batch";
  }
  // Iterations x batch: the module's own cost is unknown, and only ratios matter.
  double relative_cost(const nlohmann::json& params, const engine::DataFacts&) const override {
    const TrainOptions t = train_options_from_json(params);
    return static_cast<double>(t.phases() * t.max_iters_per_phase() * t.batch_size());
  }
  // The data file and every module the configurations name.
  std::vector<engine::InputPath> input_files(
      const nlohmann::json& data, const nlohmann::json&,
      const std::vector<nlohmann::json>& configurations) const override {
    std::vector<engine::InputPath> out = neural_data_inputs(data);
    for (auto& m : module_inputs(configurations)) out.push_back(std::move(m));
    return out;
  }
  bool supports_folds() const override { return true; }  // maskcnn's runner: fold_labels
  std::unique_ptr<engine::TrialRunner> make_runner() const override {
    tune_allocator();
    return make_torchscript_runner();
  }

 private:
  static sweeps::FamilySchema base_schema() {
    return neural_schema("torchscript", {{"module", ""}, {"loss", "poisson"}});
  }
};

}  // namespace

std::unique_ptr<engine::ModelFamily> maskcnn_family() { return std::make_unique<MaskCnnFamily>(); }

std::unique_ptr<engine::ModelFamily> torchscript_neural_task() {
  return std::make_unique<ScriptNeuralTask>();
}

void write_simulated_h5(const nlohmann::json& data_block, const std::string& path) {
  nlohmann::json block = data_block;
  if (!block.contains("kind")) block["kind"] = "simulated";
  const DataSpec spec = parse_data_spec(block, "$.data");
  NS_CHECK(spec.kind == DataSpec::Kind::kSimulated,
           "simulate: the data block must be \"kind\": \"simulated\", got \"hdf5\"");
  write_h5(simulate_v1(spec.sim), path);
}

}  // namespace ns::models::neural
