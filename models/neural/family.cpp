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
#include "models/neural/runner.hpp"
#include "models/torch_common.hpp"

namespace ns::models::neural {
namespace {

// What check_data learned about the spec's dataset, for check_params.
struct Geometry {
  bool known = false;
  std::int64_t channels = 1, height = 0, width = 0, neurons = 0, train = 0;
  std::string source;
};

}  // namespace

engine::ModelFamily maskcnn_family() {
  engine::ModelFamily f;
  f.schema.name = "maskcnn";
  f.schema.model_defaults = model_defaults();
  f.schema.training_defaults = training_defaults();
  f.schema.metrics = maskcnn_metrics();
  f.schema.metric_definitions = {{"ccnorm", kCcnormEstimator}};
  f.schema.legacy_metric_definitions = {{"ccnorm", kCcnormLegacyEstimator}};
  f.description =
      "mask CNN of neural population responses (Klindt et al. 2017; Lee-lab maskcnn_polished): "
      "input BN, conv stack, pooling, factorized readout; Lee-lab training protocol; Pearson, "
      "CCnorm (Schoppe 2016) and FEV on val/test; HDF5 or simulated V1 data";
  auto geometry = std::make_shared<Geometry>();
  f.check_data = [geometry](const nlohmann::json& data, const std::string& json_path) {
    const DataSpec spec = parse_data_spec(data, json_path);
    Geometry g;
    g.known = true;
    if (spec.kind == "hdf5") {
      const NeuralData d = read_h5(spec.path, spec.split_seed, spec.ccnorm);
      for (const std::string& w : d.warnings) log::warn("{}", w);
      g.channels = d.channels;
      g.height = d.height;
      g.width = d.width;
      g.neurons = d.neurons;
      g.train = static_cast<std::int64_t>(d.indices(kTrain).size());
      g.source = spec.path;
    } else {
      g.height = g.width = spec.sim.size;
      g.neurons = spec.sim.neurons;
      g.train = static_cast<std::int64_t>(std::floor(0.64 * spec.sim.images + 0.5));
      g.source = "simulated data";
    }
    *geometry = g;
  };
  f.check_params = [geometry](const nlohmann::json& params) {
    loss_options_from_json(params);
    const TrainOptions t = train_options_from_json(params);
    const Geometry& g = *geometry;
    if (!g.known) {
      model_options_from_json(params, 1, 1, 1, 1);  // types, ranges and choices only
      return;
    }
    NS_CHECK(t.batch_size() <= g.train,
             "batch_size {} is larger than the training set of {} ({} images); lower "
             "\"batch_size\"",
             t.batch_size(), g.source, g.train);
    const ModelOptions m =
        model_options_from_json(params, g.channels, g.height, g.width, g.neurons);
    m.map_size();  // clear message for kernels / pooling that do not fit
    // Build once on CPU and run a tiny batch, so any other shape problem surfaces now.
    torch::NoGradGuard no_grad;
    MaskCnn model(m);
    auto out = model->forward(torch::zeros({2, g.channels, g.height, g.width}));
    NS_CHECK(out.size(0) == 2 && out.size(1) == g.neurons,
             "mask CNN produced shape [{}, {}] for 2 images, expected [2, {}]", out.size(0),
             out.size(1), g.neurons);
  };
  f.validation = "each configuration's mask CNN built once on CPU and run on a 2-image batch";
  // Iteration budget x batch x convolution multiply-adds per image (forward + two gradients ~ 3x;
  // the readout, BN and activations ignored; conv maps taken at the input size). Early stopping
  // makes real trials shorter; only ratios between trials of one sweep matter.
  f.relative_cost = [geometry](const nlohmann::json& params) {
    const TrainOptions t = train_options_from_json(params);
    const Geometry& g = *geometry;
    const std::int64_t h = g.known ? g.height : 32, w = g.known ? g.width : 32;
    const ModelOptions m = model_options_from_json(params, g.known ? g.channels : 1, h, w,
                                                   g.known ? g.neurons : 1);
    const double c = static_cast<double>(m.channels());
    const double k1 = static_cast<double>(m.k1()), k = static_cast<double>(m.k_later());
    const double macs = static_cast<double>(h * w) *
                        (k1 * k1 * c + static_cast<double>(m.layers() - 1) * k * k * c * c);
    return static_cast<double>(t.phases() * t.max_iters_per_phase() * t.batch_size()) * 3 * macs;
  };
  f.make_runner = [] {
    tune_allocator();
    return make_maskcnn_runner();
  };
  return f;
}

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
