#pragma once
// The aggregated view of a sweep: configurations (the varied parameters) ranked by the mean of
// the selection metric over their seeds, failures grouped by message, per-parameter marginals.
#include <nlohmann/json.hpp>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "report/importance.hpp"
#include "report/results.hpp"

namespace ns::report {

/// The metric a report ranks by and its direction.
struct Selection {
  std::string metric;
  bool maximize = true;
  std::string mode_source;  ///< "as sweep.json says", "as --mode says" or "inferred from the name"
};

/// Picks the selection metric: `metric` (empty = the sweep's) and `mode` ("" = the sweep's mode
/// when it is the sweep metric, else inferred: max for accuracy/pearson/ccnorm/cc2/fev/r2, min
/// for loss/mse/error). Throws ns::Error for an unknown metric (listing the metric columns) or
/// a mode that can be neither read nor inferred.
Selection choose_selection(const Results& results, const std::string& metric,
                           const std::string& mode);

/// One configuration: a value for each varied parameter, over its repeats (seeds).
struct ConfigStats {
  std::vector<std::string> values;   ///< in Results::varied order
  std::vector<const Trial*> trials;  ///< ok trials with a finite metric
  double mean = 0;
  double sem = 0;               ///< sd (ddof 1) / sqrt(n); NaN when n == 1
  const Trial* best = nullptr;  ///< the best of its repeats
};

/// Marginal of the metric over one value of one parameter (all ok trials with that value).
struct MarginalRow {
  std::string value;
  int n = 0;
  double best = 0;
  double mean = 0;
};

struct Marginal {
  std::string param;
  bool numeric = false;  ///< every value parses as a number (rows sorted numerically)
  std::vector<MarginalRow> rows;
  /// max - min of its marginal means (0 with fewer than 2 values): shown, no longer the ranking
  /// (a search's correlated draws bias it; report/README.md, "What mattered").
  double spread = 0;
  /// Its PED-ANOVA importance as a fraction of the sum (NaN: n/a); the marginals' order.
  double importance = std::nan("");
};

/// Non-ok trials of one status and their most common messages.
struct ProblemGroup {
  std::string status;
  int count = 0;
  std::vector<std::pair<std::string, int>> messages;  ///< most common first
};

struct Analysis {
  Selection selection;
  int trials = 0;
  int ok = 0;
  int ok_without_metric = 0;           ///< ok trials whose selection metric is NaN/missing
  std::vector<ConfigStats> configs;    ///< ranked best first
  std::vector<ProblemGroup> problems;  ///< largest group first
  std::vector<Marginal> marginals;     ///< most important (PED-ANOVA) first
  ImportanceResult importance;         ///< PED-ANOVA over the varied parameters
  /// The Pareto view of the selection metric against a second one (present when analyze() was
  /// given one).
  bool has_pareto = false;
  ParetoView pareto;
  /// After each trial of results.csv (in the order rows landed: the order trials finished),
  /// the best selection metric of the ok trials so far; NaN until the first.
  std::vector<double> best_so_far;
  /// The best configuration by best_config.json's rule (engine::BestConfigTracker over the
  /// trials, under `selection`): its JSON (null when none) and its entry in `configs` (-1: none).
  /// It can differ from configs.front(), the best mean: complete configurations rank first.
  nlohmann::json best_config;
  int best_config_index = -1;
};

/// Aggregates `results` under `selection`; with `second`, also the Pareto view against it.
Analysis analyze(const Results& results, const Selection& selection,
                 const SecondMetric* second = nullptr);

/// One-line summary of a message for grouping: first line, trimmed, at most 120 characters.
std::string summarize_message(const std::string& message);

/// `report --best-config`: the best configuration as the engine's best_config.json gives it
/// (engine/best_config.hpp: the same rule and fields, under the analysis' selection). Null when
/// no ok trial has a finite metric.
nlohmann::json best_config_json(const Analysis& analysis);

/// Orders parameter values: numerically when both parse as numbers, else as strings.
bool value_less(const std::string& a, const std::string& b);

}  // namespace ns::report
