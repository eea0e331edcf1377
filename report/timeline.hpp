#pragma once
// When each trial ran: per rank, the trials' stretches over wall time (results.csv's `started`
// and `ended`, rank 0's clock), the idle gaps between them, the pauses of a promoted trial
// between rungs (reports.jsonl's pause events), and the utilization of each run:
//
//   utilization = busy rank-seconds / (workers x span)
//
// where a run is one entry of state.json's "runs" (one `neurosweep run` into the directory),
// its span runs from its `started` to its `ended` (a run still going: to now; a run killed
// before it wrote `ended`: to its last stretch's end), `workers` is the ranks that train in it
// (rank 0 alone when it runs trials itself: 1), and a rank's busy seconds are the union of its
// stretches in the span (a pack's trials train together: counted once). Several runs: the
// busy seconds and the capacities (workers x span) are summed over runs. Rows without
// state.json's runs (deleted, or written before them) form one run from the first stretch's
// start to the last's end, with the ranks seen as workers. The functions here are pure apart
// from load_timeline.
#include <nlohmann/json.hpp>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "engine/status.hpp"
#include "report/results.hpp"

namespace ns::report {

/// A stretch of a rank's time on one trial: a row of results.csv with times, or (kPaused) a
/// visit before a promotion, from reports.jsonl.
struct Segment {
  std::string trial;
  engine::TrialStatus status = engine::TrialStatus::kInvalid;  ///< the row's word, read once
  int rank = 0;
  double start = 0, end = 0;  ///< Unix seconds
  std::string hover;          ///< what the chart shows on hover (parameters, metric)
};

/// One run into the directory, as state.json's "runs" records it.
struct RunSpan {
  double started = 0;
  std::optional<double> ended;  ///< unset: still running, or killed before it wrote its end
  int workers = 0;              ///< 0: not recorded (the ranks seen in its rows count)
};

struct RankUse {
  int rank = 0;
  double busy_s = 0;  ///< union of its stretches within the run's span
  int segments = 0;
};

/// Time a rank of a run had nothing: between the run's start, its stretches and the run's end.
struct Gap {
  int rank = 0;
  double start = 0, end = 0;
};

/// A promoted trial waiting between rungs: from its paused visit's end to its next start.
struct Pause {
  std::string trial;
  int from_rank = 0, to_rank = 0;
  double start = 0, end = 0;
};

struct RunUse {
  double started = 0, ended = 0;  ///< the span
  int workers = 0;
  bool workers_from_rows = false;  ///< not recorded: the distinct ranks of its stretches
  bool recorded = true;            ///< false: made up from rows outside every recorded run
  bool open = false;               ///< no recorded end (running or killed)
  int segments = 0;
  double busy_s = 0;
  double utilization = std::nan("");  ///< busy_s / (workers x span); NaN for an empty span
  std::vector<RankUse> ranks;         ///< the ranks with a stretch, in rank order
  std::vector<Gap> gaps;
  double span_s() const { return ended - started; }
};

struct Timeline {
  bool has_times = false;         ///< results.csv has the started/ended columns
  std::string why_none;           ///< why there is nothing to show ("" when there is)
  std::vector<Segment> segments;  ///< every stretch with times, by start
  std::vector<Pause> pauses;
  std::vector<RunUse> runs;
  double busy_s = 0, capacity_s = 0;  ///< summed over runs
  double utilization = std::nan("");  ///< busy_s / capacity_s
  double origin = 0;                  ///< the first run's start (the chart's zero)
};

/// The timeline of `segments` (stretches without finite times, or ending before they start,
/// are left out) over `runs` (state.json's, any order). A stretch belongs to the last run that
/// started at or before it; stretches before every run form a run of their own. `now`: the end
/// of the last run when it has none and the sweep still runs (unset: its last stretch's end).
Timeline build_timeline(std::vector<Segment> segments, std::vector<RunSpan> runs,
                        std::optional<double> now = std::nullopt);

/// The timeline of a loaded directory: every row of results.csv with times (every attempt,
/// not only a trial's last), the pause events of reports.jsonl, and state.json's runs.
/// has_times false for a results.csv without the columns (written before them).
Timeline load_timeline(const Results& r);

/// The terminal's lines: per run its span, workers, busy and idle rank-seconds and
/// utilization, its ranks' busy shares; then the utilization over all runs.
std::string render_timeline_text(const Timeline& t);

/// The HTML page's data (report.js draws it): times in seconds from `origin`.
nlohmann::json timeline_json(const Timeline& t);

}  // namespace ns::report
