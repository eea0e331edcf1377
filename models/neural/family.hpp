#pragma once
// The `maskcnn` model family (issue 3): the Lee-lab / Klindt mask CNN of neural responses on
// HDF5 or simulated V1 data. Torch-free: the engine and the CLI include this header only.
#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "engine/trial_runner.hpp"

namespace ns::models::neural {

/// The family for the registry. check_data parses the data block and, for HDF5 files, opens the
/// file and checks every dataset's shape and values; it returns the image geometry, neurons and
/// repeats, with which check_params builds the model once on CPU at that size (shape errors such
/// as a kernel larger than the image surface before training). With unchecked facts,
/// check_params validates the parameters alone and relative_cost refuses (it needs the geometry).
std::unique_ptr<engine::ModelFamily> maskcnn_family();
/// The torchscript family's "neural" task (models/torchscript/family.hpp dispatches to it): a
/// user's TorchScript module in maskcnn's place, with regularizers attached by parameter name.
/// Not registered by itself.
std::unique_ptr<engine::ModelFamily> torchscript_neural_task();

/// Generates the simulated V1 population described by `data_block` (the "simulated" data block
/// of a spec; "kind" may be omitted) and writes it to `path` in the HDF5 format of docs/formats.md.
void write_simulated_h5(const nlohmann::json& data_block, const std::string& path);

}  // namespace ns::models::neural
