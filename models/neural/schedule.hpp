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
  void step(double train_loss) {
    count_step();
    add_train_loss(train_loss);
  }
  /// step() in two parts, for a loss read later: counts the iteration now...
  void count_step();
  /// ...and adds its loss to the next curve row (before that row's report()).
  void add_train_loss(double train_loss);
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
  /// One minibatch step. Its data loss (not finite when the step's total loss was not) comes
  /// back through read_losses, so a GPU need not wait for the host at every step.
  std::function<void()> train_step;
  /// The data losses of the steps since the previous call, in order: one host read for all.
  std::function<std::vector<double>()> read_losses;
  /// Steps between two reads (>= 1); every evaluation reads first. A non-finite loss fails the
  /// trial at most this many steps after the step that produced it.
  int read_every = 1;
  std::function<double()> evaluate;           ///< validation loss without regularizers
  std::function<void()> save_best;            ///< after a strict improvement
  std::function<void()> restore_best;         ///< at every phase end
  std::function<void(double lr)> set_lr;      ///< at the start of phases 2, 3, ...
  std::function<void()> on_phase_end = [] {}; ///< after restore_best (e.g. re-write checkpoint)
  std::function<void()> after_eval = [] {};   ///< after every evaluation is recorded
  /// Asked after every evaluation (after after_eval): true ends the run there, as if stopped
  /// (result kInterrupted); the caller knows why (an early-stopping scheduler's rung).
  std::function<bool()> hold = [] { return false; };
};

struct ProtocolResult {
  enum class Status { kFinished, kInterrupted, kFailed } status = Status::kFinished;
  std::string error;  ///< set when kFailed
};

/// The protocol of one model, advanced one step at a time by its caller: run_protocol drives
/// one model; the packed trainer (models/neural/packed.hpp) steps several models together and
/// drives one ProtocolDriver each. The caller's loop:
///   start(); while (!done()) { [stop?] take a step; stepped(); if (wants_losses()) supply(...); }
class ProtocolDriver {
 public:
  /// `hooks.train_step`, `read_losses` and `stop_requested` are the caller's to call; the driver
  /// calls the others.
  ProtocolDriver(PhaseSchedule& schedule, const ProtocolHooks& hooks);

  /// Sets the current phase's learning rate and runs the initial evaluation when it is due.
  void start();
  /// True when training is over (finished or failed): take no more steps.
  bool done() const { return failed_ || held_ || schedule_.finished(); }
  /// True when hooks.hold() ended the run.
  bool held() const { return held_; }
  /// Counts one training step the caller took; its loss comes with a later supply().
  void stepped();
  /// Steps counted whose losses were not supplied yet.
  std::int64_t pending() const { return pending_; }
  /// True when the pending losses are needed now: an evaluation is due, or read_every steps wait.
  bool wants_losses() const;
  /// The losses of the oldest pending steps, in order (at most pending()). A non-finite one
  /// fails the run; when none is left pending and an evaluation is due, it runs.
  void supply(const std::vector<double>& losses);
  /// How the run ended, once done() (or kInterrupted when the caller stopped it before: supply
  /// the pending losses first, so a checkpoint holds them).
  ProtocolResult result(bool interrupted = false) const;

 private:
  void evaluate();

  PhaseSchedule& schedule_;
  const ProtocolHooks& hooks_;
  std::int64_t pending_ = 0;
  bool eval_due_ = false;  ///< the last counted step is followed by an evaluation
  bool failed_ = false;
  bool held_ = false;
  std::string error_;
};

/// Runs (or continues, when `schedule` was restored from a checkpoint) the protocol until it
/// finishes, stop_requested() returns true, or a training loss is not finite.
ProtocolResult run_protocol(PhaseSchedule& schedule, const ProtocolHooks& hooks);

}  // namespace ns::models::neural
