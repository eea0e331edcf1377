#pragma once
// The terminal report: leaderboard of configurations, failures, marginals (plain text, aligned).
#include <string>
#include <vector>

#include "report/analysis.hpp"
#include "report/results.hpp"

namespace ns::report {

/// Formats a metric value for tables: 4 significant digits, "-" for NaN.
std::string format_metric(double v);

/// Columns separated by two spaces after `indent`; `right[c]`: column c right-aligned.
std::string table(const std::vector<std::string>& header,
                  const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right,
                  const std::string& indent);

/// Renders the report as text: a header, the top `top` configurations ranked by mean metric
/// (mean +- SEM over seeds, n), failed/timed-out trials with their most common messages, and the
/// marginals of each varied parameter, most influential first.
std::string render_terminal(const Results& results, const Analysis& analysis, int top);

}  // namespace ns::report
