#pragma once
// `neurosweep report OUT_DIR [--metric M] [--mode max|min] [--top K] [--html FILE]
//  [--best-config FILE]`: reads a sweep's output directory (finished, running or interrupted),
// prints the leaderboard, failures and marginals, and optionally writes an HTML page and the best
// configuration (by mean over repeats) as JSON. It never writes into the sweep's directory:
// best.json there is the engine's (the best single trial; docs/formats.md). With two or more
// directories it compares the sweeps instead (report/compare.hpp).
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <string>

namespace CLI {
class App;
}

namespace ns::report {

/// The report command's options.
struct ReportOptions {
  explicit ReportOptions(std::filesystem::path out_dir) : out_dir(std::move(out_dir)) {}
  std::filesystem::path out_dir;
  std::string metric;          ///< "" = the sweep's selection metric
  std::string mode;            ///< "" = the sweep's mode or inferred from the metric's name
  std::string metric2;  ///< the second metric of the Pareto view ("" = wall_s when present)
  std::string mode2;    ///< "" = inferred from metric2's name
  int top = 10;                ///< configurations in the leaderboard
  std::filesystem::path html;  ///< empty = no HTML page
  std::filesystem::path best_config;  ///< empty = none; else the best configuration as JSON
  std::filesystem::path replay;       ///< empty = none; else the PBT winner's replay spec
  std::string replay_trial;           ///< replay this member (trial id) instead of the best
  /// > 0: the HTML page reloads itself every refresh_s seconds (a meta refresh; --watch sets
  /// it while the sweep runs).
  int refresh_s = 0;

  ReportOptions& with_metric(std::string m) {
    metric = std::move(m);
    return *this;
  }
  ReportOptions& with_mode(std::string m) {
    mode = std::move(m);
    return *this;
  }
  ReportOptions& with_top(int k) {
    top = k;
    return *this;
  }
  ReportOptions& with_html(std::filesystem::path p) {
    html = std::move(p);
    return *this;
  }
  ReportOptions& with_best_config(std::filesystem::path p) {
    best_config = std::move(p);
    return *this;
  }
};

/// Runs the report, printing the terminal report to `out`. Throws ns::Error on bad input (no
/// directory, no results.csv, unknown metric, missing Plotly for --html, no directory for an
/// output file); writes nothing then.
void run_report(const ReportOptions& options, std::ostream& out);

/// `report DIR --html FILE --watch SECONDS`: rewrites the page every `seconds` while state.json
/// says the sweep runs, the page reloading itself; once it says otherwise (or has none), or on
/// SIGINT/SIGTERM, writes the page once more without the reload, prints the terminal report
/// and returns. Each page is written whole (a temporary file renamed over it).
void watch_report(ReportOptions options, int seconds, std::ostream& out);

/// Adds the `report` subcommand to `root`; when it is chosen, its callback sets `action` to a
/// function that runs it and returns the process exit code (0 ok, 2 bad input).
void add_report_command(CLI::App& root, std::function<int()>& action);

}  // namespace ns::report
