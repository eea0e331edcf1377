#pragma once
// The results table (results.csv): one row per finished trial, appended and flushed as each
// arrives; RFC 4180; a header fixed for the whole sweep. Plus best.json and atomic file writes.
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/csv.hpp"
#include "engine/status.hpp"

namespace ns::engine {

/// What the rank that ran a trial knows of it: the outcome a worker sends back (msg::Result),
/// nothing rank 0 already holds. `trial_id` only names which trial of the Assign it is.
struct Outcome {
  std::string trial_id;
  TrialStatus status = TrialStatus::kInvalid;  ///< ok | failed | timeout | stopped | paused | interrupted
  std::map<std::string, double> metrics;   ///< missing metrics are written as nan
  double wall_s = 0;
  int rank = 0;
  std::string host;
  std::string device;
  std::string error;
  /// The trial could not write its files to the output directory (disk full, quota, I/O error,
  /// read-only): a worker sends such an outcome with status "interrupted", so it gets no row and
  /// the trial stays pending; the coordinator drains (exit kExitCannotWrite). Never in results.csv.
  bool output_error = false;
};

/// One finished trial: its outcome, plus what rank 0 holds in the Assign it handed out (the
/// trial's parameters, seed, repeat, attempt; msg::row_of joins the two), plus the scheduler's
/// bookkeeping. The outcome's trial_id is the Assign's.
struct ResultRow : Outcome {
  nlohmann::json params;                   ///< flat resolved configuration
  std::uint64_t seed = 0;
  int repeat = 0;
  /// Cross-validation (the spec's "folds"): the fold this replicate validated on; results.csv's
  /// `fold` column, after `repeat`, in a sweep with folds only.
  std::optional<int> fold;
  int attempt = 1;
  /// Early stopping (ASHA, Hyperband, the median rule): the rung where the trial ended and its
  /// resource there; results.csv's `rung` and `resource` columns (scheduler_columns()), which
  /// are not metrics. Unset: "nan" in those columns, as for a sweep's other absent values.
  std::optional<int> rung;
  std::optional<double> resource;
  /// When rank 0 handed the trial (or a promoted trial's continuation, or its pack) out and
  /// when its result arrived there: Unix seconds on rank 0's clock, so ranks on several nodes
  /// share one clock (one rank: around the call that ran it). NaN when not known (a row written
  /// from the journal after a restart, a row reused by a warm start, a row read from a
  /// results.csv written before these columns): written as "nan".
  double started = std::nan("");
  double ended = std::nan("");
};

/// Formats a double so that pandas reads it back exactly ("nan", "inf" for non-finite).
std::string format_number(double v);
/// A metric value in a journal (reports.jsonl): JSON has no NaN, so a non-finite value is its
/// format_number string, as in results.csv; journal_value reads either form back.
nlohmann::json journal_json(double v);
double journal_value(const nlohmann::json& j);
/// Formats a parameter value for a CSV cell (strings bare, numbers shortest round-trip).
std::string format_value(const nlohmann::json& v);
/// A parameter cell of results.csv read back as a value: the cell as JSON, else the bare string
/// (format_value's inverse up to the JSON type: 3.0 reads as 3). No exceptions.
nlohmann::json param_value(const std::string& cell);

/// The columns every results.csv has besides the parameters and metrics: "trial_id", "status"
/// before them, then "seed" ... "error" after (with time_columns() after "wall_s").
const std::vector<std::string>& leading_columns();
const std::vector<std::string>& trailing_columns();
/// "started", "ended" (ResultRow::started, ::ended), after "wall_s" in trailing_columns(). A
/// results.csv written before them keeps its header when a sweep resumes into it: its new rows
/// have no times (ResultsTable::has_times()).
const std::vector<std::string>& time_columns();
/// A Unix time as results.csv and state.json write it: seconds, 3 decimals.
double unix_now();
/// The columns an early-stopping sweep adds after its metrics ("rung", "resource"; the run lists
/// them with the metric names, so the header keeps its place): ResultsTable writes them from
/// ResultRow::rung and ::resource and reads them back there, never from or into `metrics`.
const std::vector<std::string>& scheduler_columns();
/// The column a sweep with folds adds after those ("fold"), from and into ResultRow::fold.
const std::string& fold_column();

class ResultsTable {
 public:
  /// `scheduler_columns`: the sweep stops trials early; its rows' rung and resource go in the
  /// scheduler_columns() after the metrics (scheduler bookkeeping, not metrics); `fold_column`:
  /// the sweep has folds, fold_column() comes after those.
  ResultsTable(std::string path, std::vector<std::string> param_names,
               std::vector<std::string> metric_names, bool scheduler_columns = false,
               bool fold_column = false);
  ~ResultsTable();
  ResultsTable(const ResultsTable&) = delete;
  ResultsTable& operator=(const ResultsTable&) = delete;

  /// The header this sweep writes (after open(): the existing file's, which may lack the
  /// time_columns()).
  const std::vector<std::string>& header() const { return header_; }
  /// False when the existing file was written before the time_columns(): rows go in without
  /// them, so the old rows and the new stay one table.
  bool has_times() const { return times_; }

  /// Opens the file for appending. An existing file must have the same header, or the same
  /// without the time_columns() (a file written before them; has_times() false), else ns::Error;
  /// a partial last record (a kill mid-write) is cut off. Returns the existing rows as
  /// column -> cell maps. `check_only` reads and checks without touching the file.
  std::vector<std::map<std::string, std::string>> open(bool check_only = false);
  /// The same, with the rows as read: cells in the order of header() (no map per row, for a
  /// resume that reads every row of a large sweep).
  CsvTable open_table(bool check_only = false);
  /// Reads and checks the file as open(true) does (the header, every record's field count)
  /// without keeping its rows.
  void check() const;

  /// Appends one row (one write(2) when the disk takes it) and flushes it to the kernel;
  /// fdatasync at most once a second (and at close) so a node crash loses at most that second.
  /// A short or failed write is cut back, so the file never ends in a torn line; then
  /// core::WriteError (a filesystem errno: disk full, quota, I/O error) or ns::Error is thrown.
  void append(const ResultRow& row);

  /// The CSV cells of a row, in header order.
  std::vector<std::string> cells(const ResultRow& row) const;

  int rows_dropped() const { return dropped_partial_ ? 1 : 0; }

 private:
  std::string path_;
  std::vector<std::string> params_, metrics_, header_;
  bool times_ = true;
  int fd_ = -1;
  bool dropped_partial_ = false;
  std::chrono::steady_clock::time_point last_sync_{};
};


/// A results.csv record (`cells` in the order of `header`) as a row: the parameters named
/// (JSON cells, else strings), the value columns (metrics; rung, resource and fold into their
/// fields), the bookkeeping columns. Cells it cannot read are left at their defaults.
ResultRow row_from_record(const std::vector<std::string>& header,
                          const std::vector<std::string>& cells,
                          const std::vector<std::string>& param_names,
                          const std::vector<std::string>& value_columns);

/// Tracks the best ok row under (metric, mode); rows with a non-finite metric never win.
class BestTracker {
 public:
  BestTracker(std::string metric, bool maximize) : metric_(std::move(metric)), max_(maximize) {}
  /// Offers a row; returns true when it became the best.
  bool offer(const ResultRow& row);
  /// Offers a row read back from results.csv.
  bool offer_cells(const std::map<std::string, std::string>& cells,
                   const std::vector<std::string>& param_names,
                   const std::vector<std::string>& metric_names);
  /// The same for a row as read (`cells` in the order of `header`, ResultsTable::header()); a
  /// row that cannot become the best (not ok, its metric not finite or not better) is set aside
  /// from two cells, without building it.
  bool offer_record(const std::vector<std::string>& header, const std::vector<std::string>& cells,
                    const std::vector<std::string>& param_names,
                    const std::vector<std::string>& metric_names);
  bool has_best() const { return best_.has_value(); }
  double value() const;
  /// {"trial_id","metric","mode","value","params","metrics", ...}
  nlohmann::json to_json() const;

 private:
  /// Whether a row's metric value `v` (ok status) would become the best.
  bool would_take(double v) const;

  std::string metric_;
  bool max_;
  std::optional<nlohmann::json> best_;
  double best_value_ = 0;
};

}  // namespace ns::engine
