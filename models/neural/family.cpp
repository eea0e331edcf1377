#include "models/neural/family.hpp"

#include <torch/torch.h>

#include <cmath>
#include <memory>

#include "core/error.hpp"
#include "core/log.hpp"
#include "models/neural/dataset.hpp"
#include "models/neural/maskcnn.hpp"
#include "models/neural/metrics.hpp"
#include "models/neural/options.hpp"
#include "models/neural/packed.hpp"
#include "models/neural/runner.hpp"
#include "models/torch_common.hpp"

namespace ns::models::neural {
namespace {

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
    const DataSpec spec = parse_data_spec(data, json_path);
    engine::DataFacts f;
    f.checked = true;
    f.output_name = "neurons";
    if (spec.kind == "hdf5") {
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
    } else {
      f.source = "simulated data";
      f.examples = spec.sim.images;
      f.channels = 1;
      f.height = f.width = spec.sim.size;
      f.outputs = spec.sim.neurons;
      f.repeats = spec.sim.repeats;
      f.train = static_cast<std::int64_t>(std::floor(0.64 * spec.sim.images + 0.5));
    }
    return f;
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
    m.map_size();  // clear message for kernels / pooling that do not fit
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

  // Early stopping counts training iterations; rungs are checked at evaluations (every
  // eval_every iterations), so rung resources are best multiples of it.
  std::string resource() const override { return "iterations"; }

  std::unique_ptr<engine::TrialRunner> make_runner() const override {
    tune_allocator();
    return make_maskcnn_runner();
  }

 private:
  static sweeps::FamilySchema make_schema() {
    sweeps::FamilySchema s;
    s.name = "maskcnn";
    s.model_defaults = model_defaults();
    s.training_defaults = training_defaults();
    s.metrics = maskcnn_metrics();
    s.metric_definitions = {{"ccnorm", kCcnormEstimator}};
    s.legacy_metric_definitions = {{"ccnorm", kCcnormLegacyEstimator}};
    return s;
  }
};

}  // namespace

std::unique_ptr<engine::ModelFamily> maskcnn_family() { return std::make_unique<MaskCnnFamily>(); }

void write_simulated_h5(const nlohmann::json& data_block, const std::string& path) {
  nlohmann::json block = data_block;
  if (!block.contains("kind")) block["kind"] = "simulated";
  const DataSpec spec = parse_data_spec(block, "$.data");
  NS_CHECK(spec.kind == "simulated", "simulate: the data block must be \"kind\": \"simulated\", "
                                     "got \"{}\"",
           spec.kind);
  write_h5(simulate_v1(spec.sim), path);
}

}  // namespace ns::models::neural
