#pragma once
// The Lee-lab training protocol as a torch-free state machine (models/neural/README.md, "The
// published model"): phases with a decaying learning rate, evaluations every `eval_every` steps
// (and at 0), strict-improvement checkpoints, patience, and restore-the-best at every phase end.
// Unit-tested by scripted validation losses (tests/neural/test_schedule.cpp).
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace ns::models::neural {

struct ScheduleOptions {
  int phases = 3;
  double lr = 1e-3;
  double lr_decay = 3.0;  ///< lr of phase p (0-based) = lr / lr_decay^p
  std::int64_t eval_every = 50;
  std::int64_t patience = 10;  ///< evaluations without strict improvement that end a phase
  std::int64_t max_iters_per_phase = 5000;
};

/// One row of the learning curve (curve.csv). `train_loss` is the mean data loss (no
/// regularizers) of the minibatches since the previous row; NaN at iteration 0.
struct CurveRow {
  std::int64_t iteration = 0;
  int phase = 0;
  double lr = 0;
  double train_loss = 0;
  double val_loss = 0;
};

/// What the trainer must do after an evaluation was reported.
struct EvalDecision {
  bool improved = false;   ///< strictly better than every earlier evaluation: save a checkpoint
  bool end_phase = false;  ///< restore the best model and optimizer state now
  bool finished = false;   ///< (with end_phase) that was the last phase: training is over
};

class PhaseSchedule {
 public:
  explicit PhaseSchedule(ScheduleOptions options);

  const ScheduleOptions& options() const { return options_; }
  bool finished() const { return phase_ >= options_.phases; }
  int phase() const { return phase_; }  ///< 0-based
  double lr() const;                    ///< learning rate of the current phase
  std::int64_t iteration() const { return iteration_; }  ///< global training iterations done
  std::int64_t iteration_in_phase() const { return in_phase_; }
  bool needs_initial_eval() const { return evaluations_ == 0; }
  /// True when the iteration just counted by step() is followed by an evaluation.
  bool eval_due() const;
  double best_loss() const { return best_loss_; }
  std::int64_t best_iteration() const { return best_iteration_; }
  int best_phase() const { return best_phase_; }  ///< 1-based phase of the best; 0 before any
  std::int64_t bad_evaluations() const { return bad_; }
  const std::vector<CurveRow>& curve() const { return curve_; }

  /// Counts one training iteration with its (data) loss.
  void step(double train_loss);
  /// Records an evaluation at the current iteration and says what to do.
  EvalDecision report(double val_loss);

  /// Complete state for resume checkpoints.
  nlohmann::json state() const;
  void set_state(const nlohmann::json& s);

 private:
  ScheduleOptions options_;
  int phase_ = 0;
  std::int64_t iteration_ = 0, in_phase_ = 0, evaluations_ = 0, bad_ = 0;
  double best_loss_ = std::numeric_limits<double>::infinity();
  std::int64_t best_iteration_ = -1;
  int best_phase_ = 0;
  double train_sum_ = 0;
  std::int64_t train_count_ = 0;
  std::vector<CurveRow> curve_;
};

/// The model-side operations the protocol drives.
struct ProtocolHooks {
  std::function<bool()> stop_requested;       ///< checked before every iteration
  std::function<double()> train_step;         ///< one minibatch step; returns its data loss
  std::function<double()> evaluate;           ///< validation loss without regularizers
  std::function<void()> save_best;            ///< after a strict improvement
  std::function<void()> restore_best;         ///< at every phase end
  std::function<void(double lr)> set_lr;      ///< at the start of phases 2, 3, ...
  std::function<void()> on_phase_end = [] {}; ///< after restore_best (e.g. re-write checkpoint)
  std::function<void()> after_eval = [] {};   ///< after every evaluation is recorded
};

struct ProtocolResult {
  enum class Status { kFinished, kInterrupted, kFailed } status = Status::kFinished;
  std::string error;  ///< set when kFailed
};

/// Runs (or continues, when `schedule` was restored from a checkpoint) the protocol until it
/// finishes, stop_requested() returns true, or a training loss is not finite.
ProtocolResult run_protocol(PhaseSchedule& schedule, const ProtocolHooks& hooks);

}  // namespace ns::models::neural
