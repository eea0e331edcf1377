#pragma once
// The trial runner of the maskcnn family: loads (and caches) the dataset, trains with the Lee-lab
// protocol, scores the best checkpoint and writes the per-trial files (see runner.cpp).
#include <memory>

#include "engine/trial_runner.hpp"

namespace ns::models::neural {

/// A runner for one worker; it caches datasets (keyed by the data block) across trials.
std::unique_ptr<engine::TrialRunner> make_maskcnn_runner();
/// The same protocol and outputs for the torchscript family's "neural" task: each trial trains
/// a fresh copy of the TorchScript module its "module" parameter names (models/neural/net.hpp).
std::unique_ptr<engine::TrialRunner> make_torchscript_runner();

/// Metric names of the family, in results.csv order.
const std::vector<std::string>& maskcnn_metrics();

}  // namespace ns::models::neural
