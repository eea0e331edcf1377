#pragma once
// Cost of a sweep before it runs: seconds per trial from measured trials (a calibration run or
// a results file) scaled by each trial's relative cost, and what an allocation of W workers
// with jobs of a given walltime makes of it. Pure functions; `neurosweep plan` prints them.
#include <string>
#include <vector>

namespace ns::engine {

/// One measured trial: its relative cost (ModelFamily::relative_cost) and its wall time.
struct Timing {
  double cost = 1.0;
  double wall_s = 0;
};

struct CostEstimate {
  int samples = 0;          ///< measured trials used
  double s_fixed = 0;       ///< seconds every trial takes whatever its cost (start-up, data)
  double s_per_cost = 0;    ///< seconds per unit of relative cost
  std::vector<double> predicted_s;  ///< per pending trial: s_fixed + cost x s_per_cost
  double total_s = 0;       ///< sum of predicted_s: training time on one worker
  double min_s = 0, mean_s = 0, max_s = 0;
};

/// Fits wall = s_fixed + s_per_cost x cost to the measured trials (least squares; with one
/// sample, equal costs, or a negative intercept, the line through the origin
/// sum(wall) / sum(cost); with a negative slope, their mean) and predicts the pending ones.
/// Throws ns::Error when `measured` holds no positive wall time.
CostEstimate estimate_cost(const std::vector<Timing>& measured,
                           const std::vector<double>& pending_costs);

/// Picks up to `n` of `costs` spread over their range (cheapest, dearest and evenly spaced
/// ranks between), for a calibration run; returns indices into `costs`.
std::vector<size_t> calibration_sample(const std::vector<double>& costs, int n);

struct Allocation {
  int workers = 1;
  double job_s = 0;        ///< walltime of one job; 0 = one job without limit
  double margin_s = 0;     ///< lost at the end of each job (drain signal + deadline margin)
  int max_jobs = 0;        ///< the most jobs the chain may have (0 = no limit)
  double queue_max_s = 0;  ///< the queue's walltime limit (0 = unknown)
};

struct AllocationPlan {
  double makespan_s = 0;   ///< sum over jobs of their busy time, by the simulation
  double bound_s = 0;      ///< max(total / workers, longest trial)
  int jobs = 1;
  double usable_s = 0;     ///< per job: job_s - margin_s (0 = unlimited)
  bool over_max_jobs = false;  ///< jobs > max_jobs (its warning comes last in `warnings`)
  std::vector<std::string> warnings;
};

/// Simulates the coordinator's schedule: trials longest first, each to the first free worker;
/// within a job a trial starts only if it is predicted to end before the job's usable time, the
/// rest wait for the next job (the launch scripts resubmit themselves). A trial longer than the
/// usable time runs to the drain and continues in the next job (families that checkpoint).
AllocationPlan plan_allocation(const std::vector<double>& predicted_s, const Allocation& a);


}  // namespace ns::engine
