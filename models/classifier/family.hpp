#pragma once
// The `convnet` image-classifier family as the engine sees it. Torch-free on purpose: the engine
// and the registry include this header without pulling in LibTorch (torch stays out of the engine's headers).
#include <memory>

#include "engine/trial_runner.hpp"

namespace ns::models::classifier {

/// Registers as "convnet": a small CNN on IDX (MNIST-layout) images. Data block:
///   {"kind": "idx", "dir": "/usr/share/datasets/fashion-mnist", "limit": null, "test_limit": null}
/// Parameters and their defaults: models/classifier/convnet.hpp (architecture) and
/// models/classifier/runner.hpp (training). Metrics: val_accuracy, val_loss, test_accuracy,
/// test_loss, epochs, best_epoch, s_per_epoch (all of the best epoch's weights; the test set is
/// only reported, never used for selection or early stopping).
std::unique_ptr<engine::ModelFamily> convnet_family();

/// The torchscript family's "classification" task (models/torchscript/family.hpp dispatches to
/// it): the module a trial's "module" parameter names, trained by the convnet's loop with the
/// same training parameters and metrics. Not registered by itself.
std::unique_ptr<engine::ModelFamily> torchscript_classification_task();

}  // namespace ns::models::classifier
