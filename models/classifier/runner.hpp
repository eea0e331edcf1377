#pragma once
// Trains and evaluates one convnet trial (engine/trial_runner.hpp). LibTorch header: include from
// models/ .cpp files and tests only; the engine sees models/classifier/family.hpp.
//
// Per-trial files in ctx.trial_dir:
//   config.json    trial id, seed, params, data block, resolved architecture, split sizes,
//                  normalization, device, threads
//   curve.csv      epoch,lr,train_loss,val_loss,val_accuracy (one row per finished epoch)
//   model.pt       weights of the best epoch (lowest validation loss), saved on each improvement
//   confusion.csv  10x10 counts on the test set of the best model: rows true class, columns
//                  predicted class
//   resume.pt      while it trains (before a batch, at most every --checkpoint-every seconds,
//                  improved or not) and while interrupted: model, optimizer, RNG state, position
//                  in the epoch, best loss and epoch (the best weights are model.pt) and curve;
//                  run() continues from it and deletes it when done
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>

#include "engine/trial_runner.hpp"
#include "models/classifier/dataset.hpp"

namespace ns::models::classifier {

/// Training settings (the family's "training" block).
struct TrainOptions {
  std::string optimizer = "adam";    ///< adam | sgd (with momentum, Nesterov off)
  double lr = 0.001;                 ///< initial learning rate
  double momentum = 0.9;             ///< sgd only
  double weight_decay = 0.0;         ///< L2 penalty (coupled, as torch::optim applies it)
  std::int64_t batch_size = 64;      ///< shuffled each epoch; the last batch may be smaller
  std::int64_t max_epochs = 10;      ///< epoch budget
  std::int64_t patience = 3;         ///< epochs without a lower val loss before stopping; 0 = off
  double val_split = 0.1;            ///< fraction of the training images held out for validation
  std::int64_t split_seed = 0;       ///< seeds the validation split (same split for every trial)
  std::string lr_schedule = "none";  ///< none | cosine (per epoch, to 0 at max_epochs)
  bool augment_flip = false;         ///< random horizontal flips (not for digits)
  std::int64_t augment_shift = 0;    ///< random translations by up to this many pixels
  std::int64_t eval_batch_size = 1000;  ///< batch for validation/test passes (no gradients)
  /// NHWC memory format. Off by default: for this 1-channel 28x28 net it measured no faster
  /// (bench/classifier.md), unlike the mask CNN's 50x50 inputs (docs/performance.md).
  bool channels_last = false;

  nlohmann::json to_json() const;
  /// Sets the settings present in `params`; checks values, throws ns::Error naming the parameter.
  TrainOptions& update_from_json(const nlohmann::json& params);
};

/// One per worker: keeps the dataset between trials.
class ConvNetRunner : public engine::TrialRunner {
 public:
  engine::TrialOutcome run(const engine::TrialContext& ctx) override;
  const ImageDataCache& cache() const { return cache_; }

 private:
  ImageDataCache cache_;
};

/// The torchscript family's "classification" runner: the same loop and files, with the module
/// of the trial's "module" parameter (best weights in best_state.pt while training; model.pt is
/// the best model exported as TorchScript).
std::unique_ptr<engine::TrialRunner> make_script_classifier_runner();

}  // namespace ns::models::classifier
