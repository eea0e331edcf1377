#pragma once
// The coordinator (rank 0). The protocol it speaks is written out step by step in
// engine/protocol.hpp. In short: workers pull trials one at a time (Ready/Result -> Assign),
// a Scheduler chooses each trial and says what each result means, results are written as they
// arrive, and at the end every worker gets Shutdown. The coordinator owns the MPI loop, the
// drain and the deadline; schedulers own the choice. With one rank the coordinator runs the
// trials itself through a TrialExecutor.
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/executor.hpp"
#include "engine/lifecycle.hpp"
#include "engine/protocol.hpp"
#include "engine/scheduler.hpp"
#include "engine/status.hpp"
#include "engine/transport.hpp"

namespace ns::engine {

/// Where finished rows go (results.csv, best.json, progress); a fake in tests.
class ResultSink {
 public:
  virtual ~ResultSink() = default;
  /// Writes the row. Throws core::WriteError when the output directory cannot take it (disk
  /// full, ...): then nothing of the row remains, and the coordinator drains.
  virtual void record(const ResultRow& row) = 0;
  /// Called about once a second and at state changes, for progress display.
  virtual void tick(int running, bool force) { (void)running; (void)force; }
  /// One decision of an early-stopping scheduler, for the journal (reports.jsonl) that lets a
  /// resumed sweep rebuild the scheduler's state.
  virtual void journal(const nlohmann::json& event) { (void)event; }
  /// Why the output can no longer be written ("" while it can): a failed write that did not
  /// throw (a journal line, best.json). From then on nothing more is written; the coordinator
  /// polls this and drains.
  virtual std::string write_error() const { return {}; }
};

struct CoordinatorOptions {
  int retries = 0;              ///< re-runs of a failed trial (the retry rule, every scheduler)
  double trial_timeout_s = 0;   ///< per-trial limit sent with each assignment (0 = none)
  /// Wall-clock end of the allocation; trials that would not finish before
  /// deadline - margin are not started, and running ones are drained at deadline - margin.
  std::optional<std::chrono::system_clock::time_point> deadline;
  double deadline_margin_s = 60;
  /// kStatic splits trials round-robin by rank up front (for benchmarks); default kDynamic.
  Schedule schedule = Schedule::kDynamic;
  /// Dynamic schedule only: hand out trials in decreasing sweeps::Trial::cost (ties keep the sweep's
  /// order), so the long ones do not come last and leave the other workers idle at the end.
  bool longest_first = true;
  /// The breaker, for a broken device (a GPU left broken by a sticky CUDA error fails every
  /// trial in milliseconds, and because workers pull it would otherwise take most of the sweep):
  /// a rank whose last `unhealthy_after` trials all failed, within `unhealthy_window_s` seconds
  /// from the first failure to the last, while another rank succeeded since the first of them,
  /// is taken out: it gets Shutdown instead of a trial, and what it would have run goes to the
  /// others. Until another rank's result tells, it waits (no new trial while another rank runs
  /// one): an ok takes it out, a failure elsewhere clears its streak (the configurations fail
  /// alike, not the device). With one rank, or ranks that all fail alike, failures are only
  /// rows. 0 = never.
  int unhealthy_after = 5;
  double unhealthy_window_s = 120;
  /// Up to this many trials of equal shapes (sweeps::Trial::pack_key) go to a worker in one
  /// Assign and train together (`pack: K`); 1 = one at a time. For the breaker, a pack whose
  /// trials all failed counts as one failure.
  int pack = 1;
  /// The spec's "budget": no new trial starts once the trials' wall seconds (results.csv's
  /// wall_s, summed, with `budget_used_s` from earlier runs) reach it; the sweep then ends as
  /// complete. 0 = none.
  double budget_trial_s = 0;
  double budget_used_s = 0;
  /// The spec's "budget": {"resource": N}: no trial starts (nor a paused one resumes) once the
  /// scheduler's resource_used() reaches it. 0 = none.
  double budget_resource = 0;
  /// `run --rank-timeout`: a rank with a trial running that sent nothing (no heartbeat, report
  /// or result) for this many seconds is taken out as silent: it gets Abandon, its trials go back
  /// to pending (same attempt) for the other ranks, and while any rank has a trial running a
  /// free worker waits for it instead of being shut down (the trial may come back). Workers send
  /// Heartbeat every heartbeat_interval(rank_timeout_s). 0 = off.
  double rank_timeout_s = 0;
};

/// How often a worker sends Heartbeat while a trial trains, for a rank timeout of `timeout_s`:
/// a quarter of it, at most 5 s (0 when off).
double heartbeat_interval(double timeout_s);

/// A rank the coordinator took out of the sweep.
struct UnhealthyRank {
  int rank = 0;
  std::string host;
  int failures = 0;           ///< consecutive failed trials that took it out
  double within_s = 0;        ///< from the first of them to the last
  std::string last_error;     ///< the last failure's message
};

/// A rank the coordinator took out because it stopped answering (CoordinatorOptions::rank_timeout_s).
struct SilentRank {
  int rank = 0;
  std::string host;
  double silent_s = 0;              ///< how long it had sent nothing when it was taken out
  std::vector<std::string> trials;  ///< what it was running: pending again
  bool returned = false;            ///< it sent something later (and was told to shut down)
};

/// How a coordinator run ended.
struct CoordinatorSummary {
  int recorded = 0;      ///< rows written
  int ok = 0, failed = 0, timeout = 0;
  int interrupted = 0;   ///< trials stopped by a drain (resumable)
  int stopped = 0;       ///< rows with status "stopped" (an early-stopping scheduler ended them)
  int paused = 0;        ///< times a trial paused at a rung (ASHA promotion; no row)
  int not_started = 0;   ///< trials left pending (drain or deadline)
  int retried = 0;
  int unwritten = 0;     ///< finished trials whose row the output directory refused (pending)
  std::string drain_reason;  ///< empty if the sweep ran to the end
  /// The first write the output directory refused (file and strerror; a worker's or rank 0's):
  /// the sweep drained, and exits kExitCannotWrite. Empty when every write went through.
  std::string output_error;
  double makespan_s = 0;     ///< first assignment to last result
  std::vector<UnhealthyRank> unhealthy;  ///< ranks taken out, in the order it happened
  std::vector<SilentRank> silent;        ///< ranks taken out as silent, in that order
  /// A rank taken out as silent never came back: it cannot take part in MPI_Finalize, so the
  /// job must end with MPI_Abort once everything is written.
  bool abandoned_rank() const {
    for (const auto& r : silent)
      if (!r.returned) return true;
    return false;
  }
  bool budget_spent = false;  ///< the spec's budget ended it: what was not started is not due
  bool complete() const {
    return interrupted == 0 && unwritten == 0 && output_error.empty() &&
           (not_started == 0 || budget_spent);
  }
};

/// True if a trial expected to take `expected_s` started at `now` ends before deadline - margin.
bool fits_before_deadline(std::chrono::system_clock::time_point now,
                          std::chrono::system_clock::time_point deadline, double margin_s,
                          double expected_s);

/// Expected duration of the next trial from the durations seen so far (their mean plus one
/// standard deviation, so a sweep errs toward stopping early); 0 when none were seen. The
/// coordinator passes durations divided by each trial's cost and scales the answer by the next
/// trial's cost (with no cost model every cost is 1).
double expected_duration(const std::vector<double>& seen);

/// The same statistic kept as it goes (Welford's running mean and sum of squared deviations),
/// so that each start costs O(1) however many trials have ended.
class DurationStats {
 public:
  void add(double d);
  /// mean + population standard deviation of the durations added; 0 when none were.
  double expected() const;
  std::size_t count() const { return n_; }

 private:
  std::size_t n_ = 0;
  double mean_ = 0;
  double m2_ = 0;
};

class Coordinator {
 public:
  /// `drain_requested` is polled in the loop (signals); it returns a reason or "".
  Coordinator(Transport& transport, ResultSink& sink, CoordinatorOptions options,
              std::function<std::string()> drain_requested);

  /// Runs the sweep with the workers reachable through the transport, asking `scheduler` what
  /// each free worker runs next.
  CoordinatorSummary run(Scheduler& scheduler);
  /// Runs the sweep on this rank alone (mpirun -np 1); the scheduler sees one worker, rank 0.
  CoordinatorSummary run_serial(Scheduler& scheduler, TrialExecutor& executor);

  /// run() and run_serial() with today's ListScheduler over `trials` (options' schedule,
  /// longest_first and retries).
  CoordinatorSummary run(std::vector<sweeps::Trial> trials);
  CoordinatorSummary run_serial(std::vector<sweeps::Trial> trials, TrialExecutor& executor);

  /// Every trial this coordinator handed out or recorded, its phase and attempt (after run():
  /// recorded ones done or failed, paused ones paused, drained ones pending).
  const Lifecycle& lifecycle() const { return life_; }

 private:
  void handle(const Envelope& env);
  void reply(int worker);
  /// A worker's Result: each outcome joined with the Assign this rank handed out for it into
  /// its row (msg::row_of), then settled. Both run() and run_serial() come here.
  void on_result(int worker, msg::Result result);
  void check_drain();
  void begin_drain(const std::string& reason);
  /// A write to the output directory failed (`why`: file and strerror): drain, exit 5.
  void output_failed(const std::string& why);
  /// Takes `worker` out of the sweep (the breaker); its streak names the failures.
  void take_out(int worker);
  /// Removes a worker's entry from busy_: the Assign it ran, then its pack's members, each alone.
  std::vector<msg::Assign> take_busy(std::map<int, msg::Assign>::iterator it);
  /// Takes out every rank with a trial that has been silent longer than rank_timeout_s (at `now`).
  void check_silent(std::chrono::steady_clock::time_point now);
  /// Takes `worker` out as silent: Abandon to it, its trials pending again for the other ranks.
  void lose(int worker, double silent_s);
  /// A message from a rank taken out as silent: nothing of it is written; it is shut down.
  void from_lost(const Envelope& env);
  /// A send to a rank taken out as silent (Abandon, Shutdown): a failure is only logged.
  void send_quietly(int worker, const nlohmann::json& message);
  /// At the end of run(): a silent rank's trial still pending counts as interrupted.
  void count_lost_unfinished();
  /// True when a rank other than `worker` has a trial running (a suspect waits for its result).
  bool other_busy(int worker) const;
  bool may_start(double cost);
  /// Counts `row` toward `worker`'s failure streak, and takes out the ranks whose streaks
  /// other ranks' successes show to be the device's (CoordinatorOptions::unhealthy_after).
  void update_health(int worker, const ResultRow& row);
  /// Records (or retries) one trial's row; false when it was interrupted.
  bool settle(int worker, const msg::Assign& assign, ResultRow& row);
  /// Adds to `a` (just taken for `worker`) up to pack - 1 pending trials of its pack_key.
  void fill_pack(int worker, msg::Assign& a);
  /// Takes the trial next(worker) showed (and its pack): running on `worker` from now on.
  msg::Assign hand_out(int worker);
  /// The summary's row counts, from the lifecycle table.
  void count_rows();
  /// Trials running now (a pack counts each of its trials): the lifecycle table's.
  int running() const;
  /// Answers the workers waiting for work (the scheduler may have some now, or the sweep ended).
  void wake_parked();
  /// The scheduler's rows for what it still holds, once the run ends with nothing pending.
  void record_final_rows();
  /// Writes rows the scheduler gives (final_rows(), restored_rows()), counting them.
  void record_rows(std::vector<ResultRow> rows);

  Transport& transport_;
  ResultSink& sink_;
  CoordinatorOptions opt_;
  std::function<std::string()> drain_requested_;
  Scheduler* scheduler_ = nullptr;  ///< set for the duration of run() / run_serial()
  /// Per worker: the Assign it runs (a pack's members inside), which its outcomes join; the
  /// trials' phases are in life_.
  std::map<int, msg::Assign> busy_;
  /// Per worker: when its Assign was handed out (Unix seconds, rank 0's clock): the rows'
  /// `started`; their `ended` is when the Result arrives.
  std::map<int, double> handed_at_;
  Lifecycle life_;                ///< every trial's phase and attempt in this run
  DurationStats durations_;
  CoordinatorSummary summary_;
  std::optional<std::chrono::steady_clock::time_point> first_assign_;
  bool draining_ = false;
  bool stopped_starting_ = false;
  int shut_down_ = 0;
  struct Failure {
    double at_s = 0;     ///< steady clock
    long result = 0;     ///< results_seen_ when it came
    std::string host, error;
  };
  std::map<int, std::deque<Failure>> streaks_;  ///< per worker: its last failures in a row
  std::map<int, long> last_ok_;  ///< per worker: results_seen_ at its last ok result
  long results_seen_ = 0;        ///< results counted by the breaker so far
  /// Workers whose streak is full with no success elsewhere yet: they wait for another
  /// rank's result (parked while another rank runs a trial).
  std::set<int> suspects_;
  std::set<int> unhealthy_;
  std::set<int> parked_;  ///< free workers waiting: the scheduler may have work after a result
  std::map<int, std::chrono::steady_clock::time_point> heard_;  ///< per worker: its last message
  std::map<int, std::string> hosts_;  ///< per worker: the host its Ready named
  std::set<int> lost_;                ///< ranks taken out as silent
  std::vector<std::pair<std::string, int>> requeued_;  ///< their trials (and the rank), pending again
  std::chrono::steady_clock::time_point last_silence_check_{};
  int workers_ = 0;  ///< ranks that take trials in this run (those alive: minus unhealthy_)
};

}  // namespace ns::engine
