#!/bin/bash
#
# neurosweep sweep on this machine, written by `neurosweep launch local`.
#   sweep:  /data/sweeps/v1_maskcnn.json
#   output: /scratch/runs/v1_maskcnn
#   run:    bash /scratch/runs/v1_maskcnn/job-local.sh
#
# Ctrl-C (or TERM) is passed on to mpirun as USR1, which Open MPI forwards to every rank: the
# coordinator stops handing out trials, the workers checkpoint, and the run exits with status 3.
# Run this script again to resume. A second Ctrl-C aborts at once (finished results are kept).
# An abnormal end (killed ranks, a crash, an MPI failure: any status but 0, 2 bad input,
# 3 drained, 4 directory locked, 5 cannot write) reruns the sweep after 60 s, at most
# 3 times (--max-crash-resubmits), unless it followed Ctrl-C or TERM; the
# rerun resumes it. Reruns are logged in /scratch/runs/v1_maskcnn/jobs.log.
set -uo pipefail

ns_out=/scratch/runs/v1_maskcnn
ns_max_crash_resubmits=3
ns_crash_pause=60
mkdir -p "$ns_out"

ns_note() {
  printf '%s local run: %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$*" | tee -a "$ns_out/jobs.log" >&2
}

# A step can end with another status than the run's own: when a rank it took out as silent
# (`run --rank-timeout`) never answered again, rank 0 writes everything, then ends the job with
# MPI_Abort, and srun reports the ranks it killed (137). The state.json this step wrote at the
# run's end holds the run's own status (exit_status): that one decides (0 complete, 3 drained,
# 5 cannot write). A crash leaves no such state.json newer than the step's start (ns_t0).
ns_take_own_status() {
  [[ $ns_rc =~ ^[02345]$ ]] && return 0
  [ "$(stat -c %Y "$ns_out/state.json" 2>/dev/null || echo 0)" -ge "$ns_t0" ] || return 0
  local own
  own=$(sed -n 's/^ *"exit_status": *\([0-9][0-9]*\).*/\1/p' "$ns_out/state.json" 2>/dev/null | head -n 1)
  [ -n "$own" ] || return 0
  ns_note "the step ended with status $ns_rc after the run ended with status $own (state.json); taken as $own"
  ns_rc=$own
}



# Physical cores (Open MPI's default slot count): more ranks than that need --oversubscribe.
ns_cores=$(lscpu -p=Core,Socket 2>/dev/null | grep -v '^#' | sort -u | wc -l)
[ "${ns_cores:-0}" -gt 0 ] || ns_cores=$(nproc)
# One rank per core, the coordinator included.
ns_ntasks=$ns_cores
[ "$ns_ntasks" -ge 2 ] || ns_ntasks=2  # a coordinator and at least one worker
ns_mpi=()
[ "$ns_ntasks" -gt "$ns_cores" ] && ns_mpi+=(--oversubscribe)
[ "$(id -u)" = 0 ] && ns_mpi+=(--allow-run-as-root)

ns_step=""
ns_signalled=0
trap 'ns_signalled=1; [ -n "$ns_step" ] && kill -USR1 "$ns_step" 2>/dev/null' INT TERM USR1

ns_crashes=0
while :; do
  ns_t0=$(date +%s)
  setsid mpirun "${ns_mpi[@]}" -np "$ns_ntasks" --bind-to none \
    /opt/neurosweep/bin/neurosweep run /data/sweeps/v1_maskcnn.json --out /scratch/runs/v1_maskcnn &
  ns_step=$!
  # `wait` returns early whenever a trap runs: wait again until the step has really ended.
  while :; do
    wait "$ns_step"
    kill -0 "$ns_step" 2>/dev/null || break
  done
  wait "$ns_step"
  ns_rc=$?
  ns_step=""
  ns_take_own_status  # sets ns_rc to the run's own status when the launcher reports another
  case $ns_rc in 0|2|3|4|5) exit "$ns_rc" ;; esac
  # killed ranks, a crash or an MPI failure: rerun, a bounded number of times
  if [ "$ns_signalled" = 1 ]; then
    ns_note "ended with status $ns_rc after a signal; not rerunning. Resume: bash /scratch/runs/v1_maskcnn/job-local.sh"
    exit "$ns_rc"
  fi
  if [ "$ns_crashes" -ge "$ns_max_crash_resubmits" ]; then
    ns_note "crashed with status $ns_rc; $ns_max_crash_resubmits crash reruns done, stopping. Resume: bash /scratch/runs/v1_maskcnn/job-local.sh"
    exit "$ns_rc"
  fi
  ns_crashes=$((ns_crashes + 1))
  ns_note "crashed with status $ns_rc; rerunning (crash rerun $ns_crashes of $ns_max_crash_resubmits) after $ns_crash_pause s"
  sleep "$ns_crash_pause" &
  wait $! 2>/dev/null
  [ "$ns_signalled" = 1 ] && exit "$ns_rc"
done
