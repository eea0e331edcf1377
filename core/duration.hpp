#pragma once
// Durations: the one parser and the one formatter used by `plan --time`, `launch --time`,
// `run --deadline`, and the drain margin a job loses at its end.
//
// The rule (docs/guide/specs.md, "Durations"): a duration is either
//   - units: any of Nd, Nh, Nm, Ns in that order ("90s", "45m", "1h30m", "2d", "1.5s"), or
//   - Slurm's forms: "MM", "MM:SS", "HH:MM:SS", "D-HH", "D-HH:MM", "D-HH:MM:SS".
// A bare number is minutes, as in Slurm's --time ("30" is 30 minutes).
#include <optional>
#include <string>

namespace ns::core {

/// Seconds in a duration written by the rule above; nullopt if `text` is not one.
std::optional<double> parse_duration(const std::string& text);

/// Seconds in a positive duration; throws ns::Error (exit code 2) naming the option `what`
/// ("--time 'soon' is not a duration; write e.g. ...") for anything else, including zero.
double parse_duration_s(const std::string& text, const std::string& what);

/// "3 d 4 h", "2 h 05 m", "4 m 10 s", "12.5 s"; "?" for a non-finite value.
std::string human_duration(double seconds);

/// The default of `run --deadline-margin`: a trial is started only if it ends this long
/// before the deadline.
constexpr double kDeadlineMarginS = 120;

/// The USR1 warning margin a launch script asks the scheduler for when none is given: a tenth
/// of the limit, at least 30 s and at most 300 s, and half of limits under a minute; 300 s
/// when the limit is unknown (0).
int signal_margin_s(long time_limit_s);

/// Seconds of a job of `time_limit_s` that no trial can use: the run drains at
/// max(deadline margin, signal margin) before the limit, plus 30 s to start and stop.
double job_loss_s(long time_limit_s, double deadline_margin_s = kDeadlineMarginS);

}  // namespace ns::core
