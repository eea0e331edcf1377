#pragma once
// A scheduler run on a simulated clock, for `plan`: how long an early-stopping sweep takes on W
// workers and how much training it does, before it runs. The real Scheduler (ASHA, Hyperband,
// the median rule) makes every decision; only the trials are simulated. A visit of a trial from
// resource a to b (its rung, its pause, its stop) takes duration(trial, a, b) seconds; its metric
// is value(trial) at every report and at its end (a trial's quality does not change with
// training, so ranking it early is exact: a simulation of what the rungs cost, not of how well
// they rank). Workers pull as the coordinator's do: a free worker takes the scheduler's next job,
// waits when it has none but a result may bring one (a promotion), and results, reports and
// decisions happen in the order of their simulated times.
#include <functional>
#include <string>

#include "engine/scheduler.hpp"

namespace ns::engine {

struct SimulatedRun {
  double makespan_s = 0;  ///< from the first start to the last result
  double trial_s = 0;     ///< the visits' durations, summed (trial-seconds)
  int visits = 0;         ///< assignments (a promoted trial visits once per rung)
  int finished = 0;       ///< trials that trained to the top (status ok)
  int stopped = 0;        ///< trials stopped at a rung (decision, or paused and never promoted)
  double resource = 0;    ///< the scheduler's resource_used() at the end
};

struct SimulationOptions {
  int workers = 1;              ///< >= 1
  std::string metric;           ///< the value the scheduler ranks by
  /// The spec's budget, as the coordinator applies it: no visit starts once the trial-seconds
  /// or the scheduler's resource_used() reach it (0 = none).
  double budget_trial_s = 0;
  double budget_resource = 0;
};

/// Runs `scheduler` to the end on a simulated clock (above).
SimulatedRun simulate_schedule(
    Scheduler& scheduler, const SimulationOptions& options,
    const std::function<double(const sweeps::Trial&, double from, double to)>& duration,
    const std::function<double(const sweeps::Trial&)>& value);

}  // namespace ns::engine
