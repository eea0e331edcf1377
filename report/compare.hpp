#pragma once
// `neurosweep report DIR1 DIR2 ... [--metric M] [--mode max|min] [--html FILE]`: sweeps side by
// side (name, family, search, trials by status, trial seconds, the best row, the best
// configuration by its mean as best_config.json gives it) and their best-so-far curves, in the
// terminal and on one offline page. Sweeps ranked by different metrics or modes are refused.
#include <filesystem>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ns::report {

struct CompareOptions {
  std::vector<std::filesystem::path> dirs;  ///< the sweeps' output directories (two or more)
  std::string metric;                       ///< "" = each sweep's selection metric
  std::string mode;                         ///< "" = each sweep's mode (or inferred)
  std::filesystem::path html;               ///< empty = no page
};

/// What the terminal and the page show, one entry per sweep: {"compare": true, "title",
/// "metric", "maximize", "meta", "sweeps": [{"label","name","dir","family","search","trials",
/// "ok","stopped","failed","trial_seconds","best_row": {"trial_id","value"} or null,
/// "best_config": best_config.json's fields plus "params_text" or null, "best_so_far"}]}.
/// Throws ns::Error (exit 2) naming a directory that is missing or not a sweep, or the sweeps'
/// metrics and modes when they differ.
nlohmann::json compare_data(const CompareOptions& options);

/// The terminal comparison of compare_data().
std::string render_compare_terminal(const nlohmann::json& data);

/// Runs the comparison: prints it to `out`, writes the page with --html. Bad input (exit 2)
/// writes nothing.
void run_compare(const CompareOptions& options, std::ostream& out);

}  // namespace ns::report
