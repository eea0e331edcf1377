#pragma once
// best_config.json: the configuration (its parameters) with the best mean of the sweep's metric
// over its replicates (repeats x folds), kept as rows land and rebuilt from results.csv on
// resume. `report --best-config` uses the same tracker, so both name the same configuration.
//
// The rule (docs/formats.md, "Results directory"):
//  - a configuration is the rows with equal parameter cells (the values as results.csv writes
//    them; a retried trial counts once, with its last row);
//  - its value is the mean of the metric over its ok rows with a finite metric (n of them), its
//    SEM the sample sd (ddof 1) / sqrt(n) (none for n = 1); one with n = 0 never wins;
//  - with early stopping, a configuration's stage is the lowest resource (else rung) of those
//    rows; only configurations at the highest stage of any configuration with a value compete;
//  - of those, configurations whose replicates have all ended (a row each, any status) rank
//    before incomplete ones; then the better mean; then the first to appear in results.csv.
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/results.hpp"
#include "engine/status.hpp"

namespace ns::engine {

/// One replicate's row as best_config.json lists it.
struct ReplicateRow {
  std::string trial_id;
  TrialStatus status = TrialStatus::kInvalid;
  double value = NAN;  ///< the sweep's metric; NaN when none
  std::uint64_t seed = 0;
  int repeat = 0;
  std::optional<int> fold;
  std::optional<int> rung;
  std::optional<double> resource;
  /// Counted in the configuration's mean: ok with a finite metric.
  bool counted() const { return status == TrialStatus::kOk && std::isfinite(value); }
};

/// Tracks the configuration with the best mean under (metric, mode); see the rule above.
class BestConfigTracker {
 public:
  /// `replicates`: the replicates a configuration has (SweepSpec::replicates()); `param_names`:
  /// the parameter columns of results.csv, in header order.
  BestConfigTracker(std::string metric, bool maximize, int replicates,
                    std::vector<std::string> param_names);

  /// Offers a row that landed; true when best_config.json's contents changed (another
  /// configuration, or a row of the best one).
  bool offer(const ResultRow& row);
  /// A row of results.csv as read (`cells` in the order of `header`).
  bool offer_record(const std::vector<std::string>& header, const std::vector<std::string>& cells);
  /// A row as its parameter cells (in param_names order, as results.csv writes them) and its
  /// replicate.
  bool offer_cells(const std::vector<std::string>& param_cells, ReplicateRow row);

  bool has_best() const { return !ranking_.empty(); }
  /// {"metric","mode","value" (the mean),"sem","n","replicates","complete","params",
  ///  "rows": [{"trial_id","seed","repeat"[,"fold"],"value","status"[,"rung","resource"]}]};
  /// null when no configuration has a value.
  nlohmann::json to_json() const;

 private:
  // A configuration's place in the ranking: higher stage, then complete, then better mean,
  // then first appearance.
  struct Rank {
    double stage = -INFINITY;
    bool complete = false;
    double mean = 0;
    std::size_t index = 0;  ///< position of first appearance
  };
  struct Better {
    bool maximize;
    bool operator()(const Rank& a, const Rank& b) const;
  };
  struct Config {
    std::vector<std::string> cells;
    std::vector<ReplicateRow> rows;  ///< in order of first appearance of each trial id
    std::unordered_map<std::string, std::size_t> row_of;  ///< trial id -> index in rows
    int n = 0;
    double mean = 0, sem = NAN;
    std::optional<Rank> rank;  ///< set while the configuration has a value (it is ranked)
  };
  void update(Config& c);

  std::string metric_;
  bool max_;
  int replicates_;
  std::vector<std::string> params_;
  std::vector<Config> configs_;
  std::unordered_map<std::string, std::size_t> config_of_;  ///< key of the cells -> index
  std::set<Rank, Better> ranking_;
  // offer_record's column positions, for the header it saw last.
  std::vector<std::string> bound_header_;
  std::vector<std::size_t> param_at_;
  std::size_t id_at_ = 0, status_at_ = 0, metric_at_ = 0, seed_at_ = 0, repeat_at_ = 0,
              fold_at_ = 0, rung_at_ = 0, resource_at_ = 0;
};

}  // namespace ns::engine
