#pragma once
// Small helpers the early-stopping schedulers share (engine/asha.cpp, hyperband.cpp, median.cpp):
// entry lookup by trial id and a metric read from a row or report (NaN when absent).
#include <cmath>
#include <map>
#include <string>
#include <unordered_map>

#include "engine/results.hpp"
#include "sweeps/spec.hpp"

namespace ns::engine::scheduler_util {

/// Entry index by trial id, for schedulers whose entries hold sweeps::Trial in `trial`.
template <typename Entries>
std::unordered_map<std::string, int> index_by_id(const Entries& entries) {
  std::unordered_map<std::string, int> index;
  for (std::size_t i = 0; i < entries.size(); ++i)
    index.emplace(entries[i].trial.id, static_cast<int>(i));
  return index;
}

inline int find_index(const std::unordered_map<std::string, int>& index, const std::string& id) {
  auto it = index.find(id);
  return it == index.end() ? -1 : it->second;
}

inline double metric_of(const std::map<std::string, double>& m, const std::string& name) {
  auto it = m.find(name);
  return it == m.end() ? std::nan("") : it->second;
}

/// The "stopped" row a scheduler writes itself (a trial it holds at the end, or one a restore
/// found owed): `base`'s metrics and timing, the trial's identity, `attempt`.
inline ResultRow stopped_row(const sweeps::Trial& trial, int attempt, ResultRow base) {
  base.trial_id = trial.id;
  base.params = trial.params;
  base.seed = trial.seed;
  base.repeat = trial.repeat;
  base.attempt = attempt;
  base.status = TrialStatus::kStopped;
  return base;
}

}  // namespace ns::engine::scheduler_util
