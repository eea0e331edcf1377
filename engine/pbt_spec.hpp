#pragma once
// The spec's "search" block for population-based training ({"kind": "pbt"}: engine/pbt.hpp)
// and for a fixed schedule ({"kind": "schedule"}: the replay of a PBT member's lineage), each
// parsed and checked by its own from_json.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "sweeps/spec.hpp"

namespace ns::engine {

/// "search": {"kind": "pbt", ...}: the "random" block's draws are the initial population.
struct PbtSpec : sweeps::SearchOptions {
  int population = 0;        ///< members (the random block's count)
  double interval = 0;       ///< resource between two exploit/explore decisions
  double max = 0;            ///< resource at which members end (0: each trains to its own end)
  double quantile = 0.25;    ///< bottom / top fraction of the population
  std::vector<double> perturb = {0.8, 1.2};  ///< factors a perturbed number is multiplied by
  double resample_probability = 0.25;
  std::vector<std::string> mutables;  ///< the parameters explore changes (in $.random.params)

  static PbtSpec from_json(const sweeps::SpecBlocks& blocks);
};

/// One segment of a fixed schedule: the trial trains to `until` (0: its own end), with
/// `params` changed from the segment's start on.
struct ScheduleSegment {
  double until = 0;
  nlohmann::json params = nlohmann::json::object();  ///< changes from the previous segment
};

/// "search": {"kind": "schedule", "segments": [...]}: the spec's one trial trains to each
/// segment's `until`, pausing there; the last segment's `until` ends the trial.
struct ScheduleSpec : sweeps::SearchOptions {
  std::vector<ScheduleSegment> segments;

  static ScheduleSpec from_json(const sweeps::SpecBlocks& blocks);
};

}  // namespace ns::engine
