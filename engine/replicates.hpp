#pragma once
// Replicates inside every search (issue 28): with "repeats": R and/or "folds": K, a
// configuration is trained R x K times (seeds, cross-validation folds) and its value is the mean
// over its replicates. ReplicateScheduler wraps a search kind's own scheduler (ASHA, Hyperband,
// the median rule, TPE, TPE + ASHA: the "inner" one), which sees configurations only:
//
// * The inner scheduler's trials are configurations (sweeps::config_id: never a trial's id).
//   When it hands one out (a visit: a new configuration, or a promotion to the next rung), its
//   replicates (sweeps::replicates_of: each a trial of its own, with its id, seed, repeat and
//   fold) are queued and go to free workers one by one (or as one pack: replicates share shapes).
// * A replicate's result gets no row at once (Verdict::kDefer). When every replicate of the visit
//   is back (paused at the visit's rung, or ended: ok, failed, stopped, timeout), the inner
//   scheduler gets the configuration's result: the mean of each metric over the replicates that
//   did not fail (replicate_mean), and decides as it would for one trial: ASHA ranks and promotes
//   configurations by that mean and so waits for all replicates of a rung; TPE observes it. Then
//   the replicates' rows are written together (ready_rows), each with its own metrics.
// * Decisions during training (ASHA's stopping variant, the median rule) need the mean at the
//   same resource: the replicates train in lockstep, pausing (checkpoint) at each of the inner
//   scheduler's report points; when all are there the inner scheduler gets a report with their
//   mean and says continue (they resume) or stop (each ends "stopped" with its own metrics).
// * Failed replicates are retried by the retry rule like any trial; a replicate that fails for
//   good leaves the mean (counted in the rows, not in the value); a configuration all of whose
//   replicates failed is a failed result to the inner scheduler.
// * Exact resume: the journal records the calls the inner scheduler received through this one
//   (replicates_take, replicate_result with the whole row, replicate_retry, replicates_final),
//   each after the inner scheduler's own events for it; restore() builds a fresh inner scheduler
//   and makes the same calls again, silently (the inner scheduler's events are not replayed: a
//   call whose event a kill lost is made again, and its inner events are journaled again). Rows a
//   replay decided that results.csv lacks (a kill between the decision and the rows) are
//   written first (restored_rows); replicates the journal has no result for run again first.
#include <nlohmann/json.hpp>

#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/scheduler.hpp"
#include "sweeps/spec.hpp"

namespace ns::engine {

/// A configuration's result from its replicates' rows, as the inner scheduler sees it: each
/// metric's mean over the rows with status ok, paused or stopped and a finite value (NaN when
/// none); status failed when no row has one of those statuses, else paused when any is paused,
/// else stopped when any is stopped, else ok; wall_s summed; the config's id, params and seed.
ResultRow replicate_mean(const sweeps::Trial& config, const std::vector<ResultRow>& rows);

/// A configuration trial from its first replicate: id sweeps::config_id, index the
/// configuration's position (`replicates` trials per configuration), repeat 0, no fold.
sweeps::Trial config_trial(const sweeps::SweepSpec& spec, const sweeps::Trial& first_replicate,
                           int replicates);

class ReplicateScheduler final : public Scheduler {
 public:
  using Journal = std::function<void(const nlohmann::json&)>;
  /// `build_inner(journal)` builds the search kind's own scheduler over configurations (fresh,
  /// nothing restored) that journals through `journal`; `spec` gives the replicates
  /// (family, data, seed, repeats, folds; copied).
  ReplicateScheduler(const sweeps::SweepSpec& spec,
                     const std::function<std::unique_ptr<Scheduler>(Journal)>& build_inner,
                     Journal journal);

  /// Rebuilds the state of the earlier runs from the journal's replicate events (above) and the
  /// trial ids with a row. Writes the "replicates" event to a journal without one. Throws
  /// ns::Error (exit 2) for a journal of this directory written without replicates, or with
  /// another number of them.
  void restore(const std::vector<nlohmann::json>& events, const std::set<std::string>& finished);

  int pending() const override;
  bool may_have_more() const override;
  std::vector<ResultRow> ready_rows() override;
  std::vector<ResultRow> final_rows() override;
  std::vector<ResultRow> restored_rows() override;
  double resource_used() const override;
  /// True while replicates of visits already taken from the inner scheduler wait to run.
  bool next_continues(int) const override { return !queue_.empty(); }
  /// The search kind's own scheduler (tests: its rung tables hold configuration means).
  const Scheduler& inner() const { return *inner_; }
  int replicates() const { return n_; }

 protected:
  const msg::Assign* choose(int worker) const override;
  msg::Assign commit(int worker, std::optional<msg::Assign> shown) override;
  Verdict decide_result(int worker, const msg::Assign& assign, const ResultRow& row,
                        bool draining) override;
  void requeue(int worker, msg::Assign again) override;
  void lose_worker(int worker) override;
  std::vector<msg::Assign> commit_more(int worker,
                                       const std::function<bool(const msg::Assign&)>& fits,
                                       int max) override;

 private:
  enum class RepState { kQueued, kRunning, kHeld, kEnded };
  struct Rep {
    sweeps::Trial trial;
    RepState state = RepState::kQueued;
    int attempt = 1;
    std::optional<ResultRow> row;  ///< its last result (paused or ended)
    bool written = false;          ///< its row went out (ready_rows, final_rows)
  };
  struct Job {
    msg::Assign config;          ///< the inner scheduler's Assign of the current visit
    int worker = 0;              ///< who took the visit from the inner scheduler
    std::vector<Rep> reps;
    std::vector<double> points;  ///< lockstep report points still ahead in this visit
    double limit = 0;            ///< the current segment's resource_limit (0: to the end)
    bool final_segment = false;  ///< the segment ends the trial at `limit` (final_rung)
  };
  using Slot = std::pair<int, int>;  ///< (job, replicate)

  /// The visit `c` as a job (a copy): the configuration's existing job (its paused replicates
  /// go on) or a new one, with the visit's report points and its first segment.
  Job visit(const msg::Assign& c) const;
  /// Starts visit `c`: its job kept, its replicates that can still run queued.
  void begin_visit(int worker, const msg::Assign& c);
  void set_segment(Job& job) const;
  msg::Assign assign_of(const Job& job, const Rep& rep) const;
  void apply_result(const ResultRow& row, bool draining);
  void apply_retry(const std::string& trial, int attempt);
  std::vector<ResultRow> apply_final();
  /// Every replicate of the visit is back: the inner scheduler decides.
  void settle(int j, bool draining);
  /// Job j's ended replicates whose rows are not out yet go to ready_.
  void release(int j);
  Slot slot_of(const std::string& trial_id) const;
  void log(const nlohmann::json& event);

  sweeps::SweepSpec spec_;  ///< family, data, seed, repeats, folds only
  int n_ = 1;
  std::unique_ptr<Scheduler> inner_;
  Journal journal_;
  bool replaying_ = false;
  std::vector<Job> jobs_;
  std::unordered_map<std::string, int> job_of_;        ///< config id -> job
  std::unordered_map<std::string, Slot> slot_of_;      ///< replicate id -> (job, replicate)
  std::deque<Slot> queue_;                             ///< replicates to hand out, in order
  std::vector<ResultRow> ready_;
  std::vector<ResultRow> owed_;
};

}  // namespace ns::engine
