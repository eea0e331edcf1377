#pragma once
// The report's view of a PBT sweep (engine/pbt.hpp), from its journal (reports.jsonl): the
// population's metric at each step with the exploits, and the best member's whole schedule,
// which `report --replay FILE` writes as a spec that retrains it as one fixed-schedule trial.
#include <nlohmann/json.hpp>

#include <string>

#include "engine/pbt.hpp"
#include "report/results.hpp"

namespace ns::report {

struct PbtView {
  bool present = false;
  engine::PbtHistory history;
  nlohmann::json spec;     ///< the spec as written (sweep.json's "spec")
  double max = 0;          ///< the search block's "max" (0: members end on their own)
  int best = -1;           ///< the member with the best ok row (the sweep's metric and mode)
  double best_value = 0;
};

/// The PBT view of `r` (present = false when the sweep is not a PBT sweep).
PbtView load_pbt(const Results& r);

/// The terminal section: the population over steps, the exploits, the winning schedule.
std::string render_pbt(const PbtView& v, const Results& r);

/// The spec that replays the best member, or the member `trial` when not empty
/// (engine::pbt_replay_spec); throws ns::Error without one.
nlohmann::json best_replay_spec(const PbtView& v, const std::string& trial = "");

}  // namespace ns::report
