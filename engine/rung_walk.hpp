#pragma once
// The rung contract between a family's training loop and early stopping (engine/asha.hpp,
// engine/pbt.hpp). A runner makes one RungWalk per trial from its TrialContext and asks it at
// each step boundary (an evaluation, an epoch, a reported step); the walk sends the report to the
// scheduler exactly at the rungs (TrialContext::report) and answers continue, pause, stop or
// finish. Header-only, no LibTorch.
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "engine/trial_runner.hpp"

namespace ns::engine {

/// Which of a trial's rungs (ascending resources) were reached: the one rule for "a report is
/// due" that RungWalk and the executor's forwarding of reports (TrialExecutor::reporter_for)
/// share.
class RungCursor {
 public:
  explicit RungCursor(std::vector<double> rungs) : rungs_(std::move(rungs)) {}
  /// True when `resource` reaches a rung not passed yet; every rung up to it is passed then.
  bool pass(double resource) {
    bool passed = false;
    while (next_ < rungs_.size() && resource >= rungs_[next_]) {
      passed = true;
      ++next_;
    }
    return passed;
  }
  /// Whether pass(resource) would be true; changes nothing.
  bool reaches(double resource) const {
    return next_ < rungs_.size() && resource >= rungs_[next_];
  }

 private:
  std::vector<double> rungs_;
  std::size_t next_ = 0;  // the first rung not passed yet
};

/// What a runner does after a step boundary.
enum class RungAction {
  kContinue,  ///< train on
  kPause,     ///< the limit is reached below the final rung: save the checkpoint (one to be
              ///< promoted from, on any rank) and return kPaused with the metrics reported here
  kStop,      ///< the scheduler said stop at this rung: return kStopped with these metrics
              ///< (a checkpoint is not needed: the trial never continues)
  kFinish,    ///< the final rung's limit is reached: end as finished, with the family's final
              ///< metrics (as when it trains to its end)
};

/// One trial's walk over its rungs and its resource limit (TrialContext::rungs, resource_limit,
/// final_rung). A runner calls resume() once with the resource its checkpoint already used (0
/// when it starts afresh), then at(), or due() and at(), at each step boundary with the resource
/// used so far, and does what they answer. `ctx` must outlive the walk.
class RungWalk {
 public:
  explicit RungWalk(const TrialContext& ctx)
      : ctx_(ctx), cursor_(ctx.rungs), limit_(ctx.resource_limit), final_(ctx.final_rung) {}
  /// The trial continues from a checkpoint with `resource` already used: the rungs up to it are
  /// passed (their reports came before that checkpoint was saved, so none is sent again). kPause
  /// or kFinish when `resource` is at or past the limit (the trial was killed after its pause's
  /// checkpoint, before the pause was recorded): end at once, without training, with the
  /// checkpoint's metrics. Else kContinue.
  RungAction resume(double resource) {
    cursor_.pass(resource);
    return at_limit(resource) ? limit_action() : RungAction::kContinue;
  }
  /// Whether at(resource, ...) reports or ends the trial: `resource` reaches a rung not passed yet
  /// or the limit. A runner whose metrics cost an evaluation computes them only then.
  bool due(double resource) const { return cursor_.reaches(resource) || at_limit(resource); }
  /// At a step boundary with `resource` used and these metrics: reports them when `resource`
  /// reaches a rung not passed yet (never between rungs); kStop when the scheduler says stop,
  /// else kPause at the limit (kFinish at the final rung), else kContinue.
  RungAction at(double resource, const std::map<std::string, double>& metrics) {
    if (cursor_.pass(resource) && ctx_.report(resource, metrics) == Decision::kStop)
      return RungAction::kStop;
    return at_limit(resource) ? limit_action() : RungAction::kContinue;
  }
  /// Whether the trial has a resource limit (TrialContext::resource_limit > 0).
  bool limited() const { return limit_ > 0; }

 private:
  bool at_limit(double resource) const { return limit_ > 0 && resource >= limit_; }
  RungAction limit_action() const { return final_ ? RungAction::kFinish : RungAction::kPause; }

  const TrialContext& ctx_;
  RungCursor cursor_;
  double limit_;
  bool final_;
};

}  // namespace ns::engine
