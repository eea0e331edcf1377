#pragma once
// Loads a sweep's output directory as the report sees it: results.csv (possibly still growing),
// sweep.json when present. Column roles follow the results format (docs/formats.md):
// trial_id, status, every parameter, every metric, seed, repeat, attempt, wall_s, rank, host,
// device, error.
#include <cstddef>
#include <filesystem>
#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/search_registry.hpp"

namespace ns::report {

/// What sweep.json says, where it exists (fields empty when unknown).
struct SweepInfo {
  bool present = false;
  std::string name;
  std::string family;
  std::string metric;                ///< the sweep's selection metric
  /// sweep.json's "mode", read once: true for "max", false for "min", nullopt when absent.
  std::optional<bool> maximize;
  bool has_varied = false;           ///< sweep.json lists the varied parameters
  std::vector<std::string> varied;   ///< parameters varied by grid/random
  std::vector<std::string> metrics;  ///< metric columns, when sweep.json names them
  std::vector<std::string>
      spec_params;  ///< parameter names the spec writes (fixed/training/grid/random)
  /// Trial id -> the earlier metric definitions its row was scored with, as "k: definition"
  /// (sweep.json "rows_by_earlier_metric_definitions", written when a sweep resumed across a
  /// change of definition).
  std::map<std::string, std::string> earlier_definitions;
  /// How the trials were chosen: sweep.json's "search" record (engine/search_registry.hpp), or
  /// for a sweep.json written before it, the spec's blocks read by the same rules; nullopt when
  /// neither says. `random_first`: the random draws before TPE proposed (TPE kinds).
  std::optional<engine::SearchMethod> search;
  int random_first = 0;
  /// How the trials were chosen, as a word: the registry's name of the kind ("tpe", "asha",
  /// "tpe+asha", ...), or for the list the spec's blocks ("grid", "random", "grid+random",
  /// "list"); "" when sweep.json does not say.
  std::string search_name;
  std::string search_description;  ///< describe()'s lines ("" when not recorded)
  /// The replicates of a configuration: the spec's "repeats" x "folds" (1 when sweep.json does
  /// not say): best_config.json's rule ranks configurations with all of them ended first.
  int replicates = 1;
  /// sweep.json's "spec" (null when absent): the search space's grid values and distributions.
  nlohmann::json spec;
  /// True when TPE proposed the trials after the first random draws (TPE, TPE + ASHA).
  bool tpe() const {
    return search == engine::SearchMethod::kTpe || search == engine::SearchMethod::kTpeAsha;
  }
};

/// One trial: its final row in results.csv (a retried trial keeps its last attempt).
struct Trial {
  std::string id;
  std::string status;  ///< the word in results.csv: ok | failed | timeout | ... (shown as is)
  engine::TrialStatus state = engine::TrialStatus::kInvalid;  ///< that word read once
  bool ok() const { return state == engine::TrialStatus::kOk; }
  std::string error;
  std::size_t line = 0;                      ///< line of results.csv where the row starts
  std::map<std::string, std::string> cells;  ///< column -> cell as written
  std::map<std::string, double> metrics;     ///< metric columns; NaN when missing
  /// Early stopping's bookkeeping (results.csv's rung and resource columns): where the trial
  /// ended; NaN when the sweep has none or the row no value.
  double rung = std::nan(""), resource = std::nan("");
  std::string earlier_definition;  ///< non-empty: scored under an earlier metric definition

  /// The cell of `column`, or "" when the table has no such column.
  const std::string& cell(const std::string& column) const;
  /// The metric value, NaN when absent.
  double metric(const std::string& name) const;
};

/// A results directory, loaded.
struct Results {
  std::filesystem::path dir;
  SweepInfo sweep;
  std::vector<std::string> columns;          ///< results.csv header
  std::vector<std::string> param_columns;    ///< all parameter columns, header order
  std::vector<std::string> metric_columns;   ///< metric columns, header order
  /// results.csv has early stopping's rung and resource columns (engine::scheduler_columns(),
  /// never metrics, also where an older sweep.json lists them among its metrics).
  bool rungs = false;
  std::vector<std::string> varied;           ///< the parameters that make a configuration
  std::vector<Trial> trials;                 ///< one per trial id, in order of first appearance
  int rows = 0;                              ///< complete data rows read (before dedup)
  int superseded_rows = 0;                   ///< earlier attempts of a retried trial
  double wall_s = 0;  ///< the trials' seconds: wall_s summed over every row (attempts included)
  bool dropped_partial = false;              ///< a partial last line was ignored
  std::vector<std::size_t> malformed_lines;  ///< rows skipped for a wrong field count
  std::vector<std::string> warnings;         ///< things the reader noticed and worked around
};

/// Loads `dir`/results.csv and `dir`/sweep.json (optional). Throws ns::Error (exit code 2) when
/// the directory or results.csv is missing, or the file is not a neurosweep results table.
Results load_results(const std::filesystem::path& dir);

/// True for names such as val_ccnorm, test_pearson, train_loss: the first word is a data split
/// (train, val, valid, validation, test, eval), or the name is loss/accuracy/objective/value.
bool looks_like_metric(const std::string& column);

/// Parses a trial's per-trial directory name safely: true for ids made of [A-Za-z0-9_.-]
/// that are not "." or ".." (anything else could point outside trials/).
bool safe_trial_id(const std::string& id);

}  // namespace ns::report
