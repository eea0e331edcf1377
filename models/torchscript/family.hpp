#pragma once
// The `torchscript` family: a user's TorchScript module (torch.jit.script(model).save(path)),
// named by the "module" parameter, trained by a built-in family's protocol. The spec's
// "torchscript" block picks the task:
//   "neural"          images in, responses [B, neurons] out; maskcnn's protocol, data and
//                     metrics (models/neural/family.hpp), regularizers attached by parameter name
//   "classification"  images in, logits [B, classes] out; convnet's loop, IDX data and metrics
//                     (models/classifier/family.hpp)
// Torch-free: the registry includes this header.
#include <memory>

#include "engine/trial_runner.hpp"

namespace ns::models::torchscript {

std::unique_ptr<engine::ModelFamily> torchscript_family();

}  // namespace ns::models::torchscript
