#pragma once
// A sweep's output directory: the one-writer lock, sweep.json, results.csv, best.json and the
// progress display. Checks come before any write, so bad input leaves the directory as it was.
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/best_config.hpp"
#include "engine/coordinator.hpp"
#include "engine/inputs.hpp"
#include "engine/results.hpp"
#include "sweeps/spec.hpp"

namespace ns::engine {

/// Everything a sweep's output needs to know about the sweep.
struct OutputPlan {
  const sweeps::SweepSpec& spec;
  std::vector<std::string> metrics;  ///< the family's metric columns (with a "scheduler" block,
                                     ///< results.csv adds scheduler_columns() after them)
  std::string dir;                   ///< output directory
  bool force_new = false;            ///< move an incompatible results.csv aside instead of refusing
  nlohmann::json metric_definitions = nlohmann::json::object();         ///< FamilySchema's
  nlohmann::json legacy_metric_definitions = nlohmann::json::object();  ///< FamilySchema's
  /// The files the trials read, with their digests (engine/inputs.hpp): compared with those the
  /// directory's rows were run with, and recorded in sweep.json.
  std::vector<InputDigest> inputs{};
  /// ModelFamily::identity_options: the part of the spec's family block compared across runs
  /// (unset: the whole block).
  std::function<nlohmann::json(const nlohmann::json&)> identity_options{};
  /// `run --accept-changed-inputs`: continue although inputs or the family block changed (the
  /// user declares the change harmless); sweep.json records it.
  bool accept_changed_inputs = false;
  /// Every trial id of the spec, when the spec lists them all before the run (no "search"
  /// block): the counts and best.json then consider only rows of these trials.
  std::optional<std::set<std::string>> trial_ids{};
  /// The ranks that train trials in this run (world size - 1; 1 when rank 0 trains alone):
  /// state.json's "workers", which the report's utilization divides by. 0 = not known.
  int workers = 0;
};

/// Checks the output directory without writing anything: not a file, an existing results.csv
/// with the same header, an existing sweep.json of the same family, seed and data block (else
/// the trial ids would mean other runs), and with the same family block and input contents
/// (else the rows would mean other runs; accepted with `accept_changed_inputs`). Throws
/// ns::Error (exit 2) naming what differs.
void check_output_dir(const OutputPlan& plan);

/// Takes `<dir>/.lock` (flock; released by the kernel if the process dies). Throws ns::Error
/// with kExitLocked naming the holder's host and pid when another run holds it.
class DirLock {
 public:
  explicit DirLock(const std::string& dir);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_ = -1;
};

/// The run that last took `<dir>/.lock` when it is known to be gone: its `host=H,pid=P` when H is
/// this host and no process P lives; empty otherwise (no lock file, another host, a live pid).
/// Reads the file only and takes no lock, so it never stands in a starting run's way. A
/// `state.json` still `running` with such a holder was left by a run that was killed.
std::string gone_lock_holder(const std::string& dir);

/// state.json's "state": a run goes on, or how the last one ended. Written and read through this
/// enum only.
enum class SweepState { kInvalid, kRunning, kComplete, kInterrupted };
NLOHMANN_JSON_SERIALIZE_ENUM(SweepState, {{SweepState::kInvalid, nullptr},
                                          {SweepState::kRunning, "running"},
                                          {SweepState::kComplete, "complete"},
                                          {SweepState::kInterrupted, "interrupted"}})

/// The "state" of a state.json as read_state returns it, read once; kInvalid when there is none
/// or it is a word this version does not know.
SweepState state_of(const nlohmann::json& state);

/// <dir>/state.json, or null when there is none or it is not an object of JSON.
nlohmann::json read_state(const std::string& dir);

/// The coordinator's ResultSink: writes rows, keeps best.json and best_config.json current,
/// shows progress.
class SweepOutput final : public ResultSink {
 public:
  /// Creates the directory, takes the lock, moves old files aside when forced, writes
  /// sweep.json and opens results.csv. `provenance` goes into sweep.json.
  SweepOutput(const OutputPlan& plan, const nlohmann::json& provenance, int total_trials);

  /// Ids that already have a row (finished in an earlier run).
  const std::set<std::string>& finished() const { return finished_; }
  /// The wall seconds of those rows, summed (what an earlier run spent of a budget; only rows of
  /// this spec's trials when OutputPlan::trial_ids is set).
  double finished_wall_s() const { return finished_wall_s_; }
  /// Trials of this spec with a row at the start (every trial with a row when the spec's ids are
  /// not known before the run: OutputPlan::trial_ids).
  int done_before() const { return done_before_; }

  /// Appends the row to results.csv (whole or not at all) and keeps best.json and
  /// best_config.json current. A write the directory refuses throws core::WriteError when the
  /// row did not land (results.csv), else is kept for write_error(); after either, nothing more
  /// is written.
  void record(const ResultRow& row) override;
  void tick(int running, bool force) override;
  /// Appends `event` as one line of <dir>/reports.jsonl (one write(2), flushed to the kernel);
  /// a refused write leaves no partial line and is kept for write_error().
  void journal(const nlohmann::json& event) override;
  std::string write_error() const override { return write_error_; }

  /// Prints the end-of-sweep summary (counts, failures by message, best) and writes
  /// <dir>/state.json: {"state": "complete"|"interrupted", "reason", "rows", "trials", ...,
  /// "started", "ended", "workers", "runs": every run's [{started, ended, workers}],
  /// "previous_run" when the run before this one was killed}
  /// (scripts read it where a launcher's exit status hides the program's own); `makespan_s`
  /// adds this run's (`run_makespan_s`) to the earlier runs'. Returns the exit code: kExitOk,
  /// kExitInterrupted, or kExitCannotWrite when a write failed (state.json's own included).
  int finish(const CoordinatorSummary& s) const;

 private:
  void write_best();
  void write_best_config();

  std::unique_ptr<DirLock> lock_;
  std::string dir_;
  /// state.json as the last run left it (null if none), read by the constructor under the lock,
  /// before it is replaced with "running": finish() carries its figures over.
  nlohmann::json previous_state_;
  /// state.json's "previous_run": set when the last run left state.json "running" (it was
  /// killed); null otherwise.
  nlohmann::json previous_run_;
  std::string write_error_;  ///< the first refused write (file and strerror); "" = none
  std::unique_ptr<ResultsTable> table_;
  BestTracker best_;
  BestConfigTracker best_config_;
  std::set<std::string> finished_;
  double finished_wall_s_ = 0;
  std::map<std::string, int> failure_messages_;
  int total_ = 0, done_ = 0, failed_ = 0, stopped_ = 0, done_before_ = 0, running_ = 0;
  /// This run's start (Unix seconds, results.csv's clock) and workers; the earlier runs'
  /// {started, ended, workers} from the previous state.json (state.json's "runs").
  double started_unix_ = 0;
  int workers_ = 0;
  nlohmann::json earlier_runs_ = nlohmann::json::array();
  bool tty_ = false;
  std::chrono::steady_clock::time_point start_, last_line_;
};

/// The events of <dir>/reports.jsonl in order; a torn last line (a kill mid-write) is skipped.
/// No file: none.
std::vector<nlohmann::json> read_journal(const std::string& dir);

}  // namespace ns::engine
