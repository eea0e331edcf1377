#pragma once
// Walltime: --deadline values and the scheduler's own job end time.
#include <chrono>
#include <optional>
#include <string>

namespace ns::engine {

using WallTime = std::chrono::system_clock::time_point;

/// Parses a duration ("90s", "30m", "2h", "1h30m", "1:30:00", "2-00:00:00") relative to `now`,
/// or a local clock time ("18:30", "18:30:00" today, or tomorrow if already past;
/// "2026-11-22T18:30[:00]"). Throws ns::Error naming the option and the accepted forms.
WallTime parse_deadline(const std::string& text, WallTime now, const std::string& what = "--deadline");

/// Seconds in a Slurm/LSF-style duration ("1:30:00", "2-00:00:00", "90m"); nullopt if not one.
std::optional<double> parse_duration(const std::string& text);

/// The job's end time from the scheduler: Slurm (`squeue -h -j $SLURM_JOB_ID -o %e`, since
/// Slurm 22.05 exports no end-time variable) or LSF (`bjobs -noheader -o time_left $LSB_JOBID`).
/// nullopt outside a job or when the scheduler does not say.
std::optional<WallTime> scheduler_deadline(WallTime now);

}  // namespace ns::engine
