#pragma once
// Walltime: --deadline values and the scheduler's own job end time.
#include <chrono>
#include <optional>
#include <string>

namespace ns::engine {

using WallTime = std::chrono::system_clock::time_point;

/// Parses a local clock time ("18:30" today, or tomorrow if already past;
/// "2026-11-22T18:30[:00]") or else a duration relative to `now` (core/duration.hpp's rule:
/// "90s", "30m", "1h30m", "1:30:00", "2-00:00:00", a bare "30" is 30 minutes). Throws ns::Error naming the option and the accepted forms.
WallTime parse_deadline(const std::string& text, WallTime now, const std::string& what = "--deadline");


/// The job's end time from the scheduler: Slurm (`squeue -h -j $SLURM_JOB_ID -o %e`, since
/// Slurm 22.05 exports no end-time variable) or LSF (`bjobs -noheader -o time_left $LSB_JOBID`).
/// nullopt outside a job or when the scheduler does not say.
std::optional<WallTime> scheduler_deadline(WallTime now);

}  // namespace ns::engine
