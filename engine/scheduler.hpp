#pragma once
// The scheduler seam: the coordinator asks a Scheduler which trial a free worker runs next and
// what a finished trial means; it keeps the MPI loop, the drain and the deadline to itself.
// ListScheduler (the trials of the spec, dearest first or static by rank) is the first one;
// adaptive searchers implement the same interface.
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "engine/protocol.hpp"
#include "engine/status.hpp"
#include "engine/trial_runner.hpp"

namespace ns::engine {

/// What a finished trial means to the scheduler.
enum class Verdict {
  kRecord,  ///< write its row (ok, failed, timeout or stopped)
  kRetry,   ///< no row: the trial runs again (the retry rule, or PBT's own replacement)
  kHold,    ///< no row: the trial paused at a rung and waits for a promotion
  /// No row yet: its row comes later through Scheduler::ready_rows() (a replicate waiting for
  /// the other replicates of its configuration, engine/replicates.hpp).
  kDefer,
};

/// The interface the coordinator calls is non-virtual: it keeps, in one place, the look-before-
/// take cache (next() shows a trial, take() takes that one) and forgets it at every entry point
/// that changes what next() would show (on_result, retry, take_more, on_report,
/// on_worker_lost). A scheduler implements the protected virtuals: choose/commit (what next, and
/// taking it) and its decisions.
class Scheduler {
 public:
  virtual ~Scheduler() = default;
  /// The trial `worker` would run next, or nullptr when it has none (it is then shut down).
  /// The coordinator looks before it takes: the deadline check needs the trial's cost. Asks
  /// choose() each time; what it shows stays valid until the next call of any entry point.
  const msg::Assign* next(int worker) const;
  /// Takes the trial next(worker) showed (choosing it first when next(worker) was not the last
  /// look); it is no longer pending. Throws (internal) when there is none.
  msg::Assign take(int worker);
  /// A trial `worker` ran came back (never "interrupted": a drained trial is simply pending in
  /// the next run), after the retry rule (settle_result below) passed it on. `draining`: no new
  /// trial will start in this run.
  Verdict on_result(int worker, const msg::Assign& assign, const ResultRow& row, bool draining) {
    forget_shown();
    return decide_result(worker, assign, row, draining);
  }
  /// The retry rule sends a failed attempt back: queue `again` (its attempt raised) first in
  /// line. Called only when retries_failed().
  void retry(int worker, msg::Assign again) {
    forget_shown();
    requeue(worker, std::move(again));
  }
  /// False for a scheduler that handles failed attempts itself (PBT replaces a failed member by
  /// an exploit; a fixed schedule ends): the retry rule leaves them to on_result. Default: true.
  virtual bool retries_failed() const { return true; }
  /// Trials not handed out, counted as not started when the run ends.
  virtual int pending() const = 0;
  /// `worker` takes no more trials (the coordinator took it out as unhealthy): what it would
  /// have run must reach the others. Called once per worker, never for the last one alive.
  void on_worker_lost(int worker) {
    forget_shown();
    lose_worker(worker);
  }
  /// Right after take(worker): up to `max` more pending trials for `worker` that `fits` accepts,
  /// trained in one pack with the one taken (`pack: K`); they are no longer pending.
  std::vector<msg::Assign> take_more(int worker,
                                     const std::function<bool(const msg::Assign&)>& fits,
                                     int max) {
    forget_shown();
    return commit_more(worker, fits, max);
  }
  /// A running trial reached one of its Assign::rungs: continue or stop.
  Decision on_report(int worker, const msg::Report& report) {
    forget_shown();
    return decide_report(worker, report);
  }
  /// True when what next(worker) shows belongs to work already started (the other replicates
  /// of a configuration's visit, engine/replicates.hpp): the coordinator hands it out even once
  /// a budget or the deadline stops new starts (a drain still stops it), so a configuration is
  /// never left with replicates at different rungs. Default: false.
  virtual bool next_continues(int worker) const {
    (void)worker;
    return false;
  }
  /// True when next() has nothing now but a result still to come may give work (a promotion):
  /// the coordinator then lets a free worker wait instead of shutting it down. Default: false.
  virtual bool may_have_more() const { return false; }
  /// Adds what the scheduler knows to a row about to be written (ASHA: `rung`, `resource`).
  virtual void annotate(const msg::Assign& assign, ResultRow& row) const {
    (void)assign;
    (void)row;
  }
  /// Rows the scheduler decided since the last call, for trials that came back earlier with
  /// Verdict::kDefer (a configuration's replicates, written together once the configuration's
  /// result is decided); the coordinator writes them after each result. Default: none.
  virtual std::vector<ResultRow> ready_rows() { return {}; }
  /// Called once when the run ends with nothing pending: rows for trials the scheduler still
  /// holds (ASHA: paused trials never promoted, as "stopped"). Default: none.
  virtual std::vector<ResultRow> final_rows() { return {}; }
  /// Called once before the first trial is handed out: rows restore() found owed (a trial the
  /// journal says was stopped, whose row a kill lost), written first, as the uninterrupted run
  /// wrote them right after the decision. Default: none.
  virtual std::vector<ResultRow> restored_rows() { return {}; }
  /// The resource (the family's unit: iterations, epochs, steps) the scheduler has given
  /// trials so far: what ended trials reached, plus what running ones train toward (their next
  /// rung or report), including earlier runs rebuilt from the journal. The spec's
  /// "budget": {"resource": N} starts nothing once it reaches N. Default: 0 (not counted).
  virtual double resource_used() const { return 0; }

 protected:
  /// What `worker` would run next, or nullptr. A scheduler that keeps its trials (a queue)
  /// returns a pointer into them; one that builds the Assign returns show(worker, built).
  virtual const msg::Assign* choose(int worker) const = 0;
  /// Takes what choose(worker) just returned: `shown` is the Assign it passed to show(), or
  /// nullopt when it returned a pointer into its own storage.
  virtual msg::Assign commit(int worker, std::optional<msg::Assign> shown) = 0;
  /// Keeps `a` (built by choose()) as what next() shows; returns it.
  const msg::Assign* show(msg::Assign a) const;
  virtual Verdict decide_result(int worker, const msg::Assign& assign, const ResultRow& row,
                                bool draining) = 0;
  /// Default: throws (internal), for a scheduler whose retries_failed() is false.
  virtual void requeue(int worker, msg::Assign again);
  /// Default: nothing (a scheduler whose trials are not bound to a rank).
  virtual void lose_worker(int worker) { (void)worker; }
  /// Default: none (a scheduler that does not pack).
  virtual std::vector<msg::Assign> commit_more(int worker,
                                               const std::function<bool(const msg::Assign&)>& fits,
                                               int max);
  /// Default: continue.
  virtual Decision decide_report(int worker, const msg::Report& report);

 private:
  void forget_shown() const {
    looked_ = kNone;
    shown_.reset();
  }
  static constexpr int kNone = -1;
  /// The one look-before-take cache: the worker whose next() found a trial (kNone: no valid
  /// look), and the Assign it showed when choose() built it (else it is in the scheduler's own
  /// storage, e.g. a queue's front).
  mutable int looked_ = kNone;
  mutable std::optional<msg::Assign> shown_;
};

/// A metric value as a ranking score: larger is better under `maximize` (else smaller), NaN
/// last (-inf). The one ranking rule of ASHA, the median rule and PBT.
double ranking_score(double value, bool maximize);

/// The retry rule, the one place it is written: a failed attempt runs again while its attempt
/// <= `retries` (the spec's) and the run is not draining, for a scheduler that retries_failed().
bool should_retry(const Scheduler& scheduler, const ResultRow& row, int retries, bool draining);

/// What the coordinator does with a result: the retry rule (then Scheduler::retry and kRetry),
/// else Scheduler::on_result.
Verdict settle_result(Scheduler& scheduler, int worker, const msg::Assign& assign,
                      const ResultRow& row, int retries, bool draining);

/// The trials not yet handed out: one queue for the dynamic schedule, or one per worker rank
/// for the static one (trial index modulo the number of workers picks the rank).
class TrialQueue {
 public:
  /// `workers`: the ranks that take trials (1..N-1 under MPI, {0} on one rank).
  TrialQueue(Schedule schedule, std::vector<int> workers);
  /// Appends a trial at the back of its queue.
  void push_back(msg::Assign a);
  /// Puts a trial back at the front of `worker`'s queue (a retry runs next, on the same rank).
  void push_front(int worker, msg::Assign a);
  /// True if `worker` has a trial to take.
  bool has_next(int worker) const;
  /// The trial `worker` would take next; has_next(worker) must hold.
  const msg::Assign& peek(int worker) const;
  /// Takes the trial `worker` would take next; has_next(worker) must hold.
  msg::Assign pop(int worker);
  /// Trials left in all queues.
  int size() const;
  /// The first trial of `worker`'s queue that `usable` accepts, or, when it accepts none, the
  /// front (a worker is never left idle by a preference); nullptr when the queue is empty.
  const msg::Assign* peek_preferring(int worker,
                                     const std::function<bool(const msg::Assign&)>& usable) const;
  /// Takes what peek_preferring(worker, usable) shows.
  msg::Assign pop_preferring(int worker, const std::function<bool(const msg::Assign&)>& usable);
  /// Takes, in queue order, up to `max` trials of `worker`'s queue that `fits` accepts.
  std::vector<msg::Assign> pop_matching(int worker,
                                        const std::function<bool(const msg::Assign&)>& fits,
                                        int max);
  /// Static schedule: `worker` leaves; its queued trials go round-robin to the others (in
  /// order, behind theirs). Dynamic: nothing to move.
  void remove_worker(int worker);

 private:
  std::deque<msg::Assign>& queue_for(int worker);
  const std::deque<msg::Assign>* find(int worker) const;

  Schedule schedule_;
  std::vector<int> workers_;
  std::map<int, std::deque<msg::Assign>> queues_;  ///< key -1: the shared dynamic queue
};

/// The order of the dynamic schedule: decreasing cost, ties in the given order.
void order_longest_first(std::vector<sweeps::Trial>& trials);

/// Today's scheduler: a fixed list of trials. Dynamic: workers pull from one queue, dearest
/// first when `longest_first` (ties in sweep order). Static: split round-robin by rank up front.
/// A retried trial (the retry rule) runs first in line, and under the dynamic schedule on a
/// rank where it has not failed yet when one asks (so a broken rank does not spend a trial's
/// retries); static retries stay on their rank.
class ListScheduler final : public Scheduler {
 public:
  ListScheduler(std::vector<sweeps::Trial> trials, std::vector<int> workers, Schedule schedule,
                bool longest_first);
  int pending() const override { return queue_.size(); }

 protected:
  /// The queue's front (a peek, no copy).
  const msg::Assign* choose(int worker) const override;
  msg::Assign commit(int worker, std::optional<msg::Assign> shown) override;
  Verdict decide_result(int worker, const msg::Assign& assign, const ResultRow& row,
                        bool draining) override;
  void requeue(int worker, msg::Assign again) override;
  void lose_worker(int worker) override;
  /// Pending trials in queue order; a retry only on a rank it has not failed on.
  std::vector<msg::Assign> commit_more(int worker,
                                       const std::function<bool(const msg::Assign&)>& fits,
                                       int max) override;

 private:
  /// True if `a` has not failed on `worker` (the preference for retries).
  bool fresh_for(int worker, const msg::Assign& a) const;

  TrialQueue queue_;
  std::map<std::string, std::vector<int>> failed_on_;  ///< trial id -> ranks it failed on
};

}  // namespace ns::engine
