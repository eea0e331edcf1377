#pragma once
// The command family's report lines: what one line a trial prints on stdout (or appends to
// $NEUROSWEEP_REPORTS) means. A pure function of the text, so the fuzz harness
// (tests/fuzz/fuzz_inputs.cpp, target "report") drives exactly what a trial's output reaches.
#include <map>
#include <string>
#include <vector>

namespace ns::models::command {

/// One line, classified. Never throws for any text: a line breaking a limit (1 MiB, nesting
/// deeper than 32, a duplicate key: core::JsonLimits::trial_line()) or holding a bad value is
/// kMalformed with the reason, which the family logs before going on (the line is skipped).
struct ReportLine {
  enum class Kind {
    kText,       ///< not a report: not starting with '{', or a JSON object without "step"/"final"
    kMalformed,  ///< looks like a report but is not one; `why` says what is wrong
    kReport,     ///< {"step": s, "metrics": {...}}: `step` and `metrics`
    kFinal,      ///< {"final": {...}}: `metrics`
  };
  Kind kind = Kind::kText;
  std::string why;
  double step = 0;
  std::map<std::string, double> metrics;  ///< the declared metrics it gives
  std::vector<std::string> unknown;       ///< names it gives that are not declared (ignored)
};

/// Reads `line` (without its newline) against the declared metric names. A metric value is a
/// number, null (nan) or one of "nan", "inf", "-inf", "NaN", "Infinity", "-Infinity".
ReportLine parse_report_line(const std::string& line, const std::vector<std::string>& metrics);

/// At most `max` bytes of `text` for a message, with " ... (N bytes)" when cut.
std::string head_of(const std::string& text, std::size_t max = 200);

}  // namespace ns::models::command
