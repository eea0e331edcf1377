#pragma once
// The HTML report: one self-contained page (Plotly inlined, data as JSON) that opens offline.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "report/analysis.hpp"
#include "report/results.hpp"

namespace ns::report {

/// Where plotly.min.js is read from: $NS_PLOTLY_JS when set, else the path CMake compiled in
/// (the cache's plotly.js-VERSION/plotly.min.js, which scripts/setup.sh downloads from PyPI's
/// plotly wheel as pinned in report/vendor/plotly.lock).
std::filesystem::path plotly_js_path();

/// Reads plotly.min.js; throws ns::Error saying how to install it when it is missing.
std::string load_plotly_js();

/// The data the page draws: leaderboard, per-trial points, marginals, the heatmap over the two
/// most influential parameters (largest spread of marginal means), learning curves of the best
/// trial of each of the top configurations (at most 5), per-neuron metrics and readout masks of
/// the best trial, and every row of results.csv for the sortable table. Missing or unreadable
/// per-trial files are skipped and listed under "skipped".
nlohmann::json html_data(const Results& results, const Analysis& analysis, int top);

/// The page of `report DIR1 DIR2 ...` (report/compare.hpp builds `data`: {"compare": true,
/// "title", "metric", "maximize", "meta", "sweeps": [...]}): a table of the sweeps and their
/// best-so-far curves on one chart, `plotly_js` inlined.
std::string render_compare_html(const nlohmann::json& data, const std::string& plotly_js);

/// The whole page, `plotly_js` inlined.
std::string render_html(const Results& results, const Analysis& analysis, int top,
                        const std::string& plotly_js);

}  // namespace ns::report
