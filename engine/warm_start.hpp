#pragma once
// Warm start (issue 28): "warm_start": ["runs/earlier", ...] in a spec.
//  * TPE (alone or with ASHA): the earlier sweeps' finished configurations become prior
//    observations of TPE's densities: each configuration's mean over its ok rows (with early
//    stopping: the rows at the highest rung that sweep reached), its parameters matched by name
//    within this spec's search space. Parameters the earlier sweep had and this space lacks are
//    dropped; a space parameter the earlier sweep lacks is left out of that observation's density
//    (TpeObservation); a configuration whose value lies outside this space is dropped; each with
//    a warning. The earlier sweep's other inputs (data, fixed parameters) may differ: sweep.json
//    names them. The observations are written once to <out>/warm_start.json and a resumed run
//    reads them there, so its proposals are those of the uninterrupted run.
//  * The list (grid, random): a trial an earlier sweep of the same inputs (the same trial id, and
//    the same input files by content) already finished with status ok is not run again: its row
//    is copied into this sweep's results.csv, its `error` cell saying where it came from.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "engine/inputs.hpp"
#include "engine/results.hpp"
#include "engine/tpe.hpp"
#include "sweeps/spec.hpp"

namespace ns::engine {

struct WarmStart {
  std::vector<TpeObservation> prior;  ///< TPE's prior observations (TPE kinds only)
  std::vector<ResultRow> reused;      ///< rows to copy, one per trial (the list only)
  nlohmann::json record = nlohmann::json::array();  ///< per source, for sweep.json
  std::vector<std::string> warnings;
};

/// Reads the spec's warm_start directories: TPE's prior observations (`tpe`) or the list's rows
/// to reuse for `pending` trials of the same `inputs` (else). `metrics`: the family's metrics
/// (the columns results.csv has). Throws ns::Error (exit 2) naming the directory for one that is
/// missing, not a sweep, of another family, or whose results.csv lacks the metric.
WarmStart read_warm_start(const sweeps::SweepSpec& spec, bool tpe,
                          const std::vector<sweeps::Trial>& pending,
                          const std::vector<InputDigest>& inputs);

/// TPE's prior observations as <out>/warm_start.json keeps them, and back.
nlohmann::json prior_json(const std::vector<TpeObservation>& prior);
std::vector<TpeObservation> prior_from_json(const nlohmann::json& j);

}  // namespace ns::engine
