#pragma once
// The coordinator's one table of trial lifecycles in a run: every trial it handed out or
// recorded, its phase and its attempt. The coordinator owns the lifecycle (and the retry rule,
// engine/scheduler.hpp settle_result); schedulers keep only their decisions.
#include <array>
#include <string>
#include <unordered_map>

#include "engine/status.hpp"

namespace ns::engine {

/// (kFailed last: by_phase_ is sized by it.)
enum class Phase {
  kPending,  ///< due to run (a retry queued, or a drained / unwritten trial: the next run's)
  kRunning,  ///< handed out to `worker`
  kPaused,   ///< paused at a rung, waiting for a promotion (no row)
  kDone,     ///< has its row: ok or stopped
  kFailed,   ///< has its row: failed or timeout
};

struct TrialLife {
  Phase phase = Phase::kPending;
  int worker = -1;   ///< the rank running it (kRunning), else the last one that did (-1: none)
  int attempt = 1;   ///< kPending after a retry: the attempt to come; else the last one's
  TrialStatus status = TrialStatus::kInvalid;  ///< its row's (kDone, kFailed)
};

/// O(1) per event (hash map by trial id, counters per phase and per recorded status).
class Lifecycle {
 public:
  /// take(): `id` runs on `worker` as attempt `attempt`.
  void start(const std::string& id, int worker, int attempt);
  /// Verdict kRetry: pending again, as attempt `next_attempt`.
  void retry(const std::string& id, int next_attempt);
  /// Verdict kHold: paused at a rung.
  void pause(const std::string& id);
  /// A row written (a verdict kRecord, restored_rows, final_rows): done or failed by its status.
  void record(const std::string& id, TrialStatus status, int attempt);
  /// No row and no verdict (drained, or its row could not be written): pending for the next run.
  void unfinish(const std::string& id);

  /// Room for `n` trials (the scheduler's pending() at the start of a run): no rehash.
  void reserve(std::size_t n) { trials_.reserve(n); }
  /// nullptr when the run has not seen `id`.
  const TrialLife* find(const std::string& id) const;
  int count(Phase phase) const { return by_phase_[static_cast<std::size_t>(phase)]; }
  /// Rows recorded in this run with `status` (events: a trial recorded again counts again).
  int recorded(TrialStatus status) const { return by_status_[static_cast<std::size_t>(status)]; }
  /// Rows recorded in this run, whatever their status.
  int recorded() const { return recorded_; }
  const std::unordered_map<std::string, TrialLife>& trials() const { return trials_; }

 private:
  TrialLife& enter(const std::string& id, Phase phase);

  std::unordered_map<std::string, TrialLife> trials_;
  std::array<int, static_cast<std::size_t>(Phase::kFailed) + 1> by_phase_{};
  /// By TrialStatus (kPaused is its last value).
  std::array<int, static_cast<std::size_t>(TrialStatus::kPaused) + 1> by_status_{};
  int recorded_ = 0;
};

}  // namespace ns::engine
