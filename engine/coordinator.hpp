#pragma once
// The coordinator (rank 0). The protocol it speaks is written out step by step in
// engine/protocol.hpp. In short: workers pull trials one at a time (Ready/Result -> Assign),
// results are written as they arrive, and at the end every worker gets Shutdown. With one rank
// the coordinator runs the trials itself through a TrialExecutor.
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/executor.hpp"
#include "engine/protocol.hpp"
#include "engine/status.hpp"
#include "engine/transport.hpp"

namespace ns::engine {

/// Where finished rows go (results.csv, best.json, progress); a fake in tests.
class ResultSink {
 public:
  virtual ~ResultSink() = default;
  virtual void record(const ResultRow& row) = 0;
  /// Called about once a second and at state changes, for progress display.
  virtual void tick(int running, bool force) { (void)running; (void)force; }
};

struct CoordinatorOptions {
  int retries = 0;              ///< re-runs of a failed trial
  double trial_timeout_s = 0;   ///< per-trial limit sent with each assignment (0 = none)
  /// Wall-clock end of the allocation; trials that would not finish before
  /// deadline - margin are not started, and running ones are drained at deadline - margin.
  std::optional<std::chrono::system_clock::time_point> deadline;
  double deadline_margin_s = 60;
  /// kStatic splits trials round-robin by rank up front (for benchmarks); default kDynamic.
  Schedule schedule = Schedule::kDynamic;
  /// Dynamic schedule only: hand out trials in decreasing TrialSpec::cost (ties keep the sweep's
  /// order), so the long ones do not come last and leave the other workers idle at the end.
  bool longest_first = true;
};

/// How a coordinator run ended.
struct CoordinatorSummary {
  int recorded = 0;      ///< rows written
  int ok = 0, failed = 0, timeout = 0;
  int interrupted = 0;   ///< trials stopped by a drain (resumable)
  int not_started = 0;   ///< trials left pending (drain or deadline)
  int retried = 0;
  std::string drain_reason;  ///< empty if the sweep ran to the end
  double makespan_s = 0;     ///< first assignment to last result
  bool complete() const { return interrupted == 0 && not_started == 0; }
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

/// The order of the dynamic schedule: decreasing cost, ties in the given order.
void order_longest_first(std::vector<TrialSpec>& trials);

/// The trials not yet handed out, as both Coordinator::run and run_serial take them: one queue
/// for the dynamic schedule, or one per worker rank for the static one (trial index modulo the
/// number of workers picks the rank).
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

 private:
  std::deque<msg::Assign>& queue_for(int worker);
  const std::deque<msg::Assign>* find(int worker) const;

  Schedule schedule_;
  std::vector<int> workers_;
  std::map<int, std::deque<msg::Assign>> queues_;  ///< key -1: the shared dynamic queue
};

class Coordinator {
 public:
  /// `drain_requested` is polled in the loop (signals); it returns a reason or "".
  Coordinator(Transport& transport, ResultSink& sink, CoordinatorOptions options,
              std::function<std::string()> drain_requested);

  /// Runs the sweep over `trials` with the workers reachable through the transport.
  CoordinatorSummary run(std::vector<TrialSpec> trials);

  /// Runs the sweep on this rank alone (mpirun -np 1).
  CoordinatorSummary run_serial(std::vector<TrialSpec> trials, TrialExecutor& executor);

 private:
  struct InFlight {
    msg::Assign assign;
    std::chrono::steady_clock::time_point start;
  };

  void handle(const Envelope& env);
  void reply(int worker);
  void on_result(int worker, msg::Result result);
  void check_drain();
  void begin_drain(const std::string& reason);
  bool may_start(double cost);
  void fill(std::vector<TrialSpec> trials, std::vector<int> workers);

  Transport& transport_;
  ResultSink& sink_;
  CoordinatorOptions opt_;
  std::function<std::string()> drain_requested_;
  std::optional<TrialQueue> pending_;
  std::map<int, InFlight> busy_;
  std::vector<double> durations_;
  CoordinatorSummary summary_;
  std::optional<std::chrono::steady_clock::time_point> first_assign_;
  bool draining_ = false;
  bool stopped_starting_ = false;
  int shut_down_ = 0;
};

}  // namespace ns::engine
