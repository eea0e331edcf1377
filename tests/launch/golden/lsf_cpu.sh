#!/bin/bash
#BSUB -J v1_maskcnn
#BSUB -o /scratch/runs/v1_maskcnn/logs/lsf-%J.out
#BSUB -e /scratch/runs/v1_maskcnn/logs/lsf-%J.err
#BSUB -n 46
#BSUB -R "span[ptile=16]"
#BSUB -W 0:45
#
# neurosweep sweep job for LSF, written by `neurosweep launch lsf`.
#   sweep:  /data/sweeps/v1_maskcnn.json
#   output: /scratch/runs/v1_maskcnn
#   submit: bsub < /scratch/runs/v1_maskcnn/job-lsf.sh
#
# Time limit: the coordinator reads the job's run limit itself (bjobs time_left) and stops
# handing out trials in time to drain; `neurosweep run` then exits with status 3 (interrupted,
# resumable) and this script submits itself again, at most 10 times in a row, so
# the next job resumes the sweep. bkill sends INT, TERM and KILL to every process of the job; the
# ranks drain on the first and this script does not resubmit.
# An abnormal end (killed ranks, a crash, an MPI failure, a lost host: any status but 0, 2 bad
# input, 3 drained, 4 directory locked, 5 cannot write) is resubmitted after 60 s, at
# most 3 times (--max-crash-resubmits, counted apart from the drains in
# NS_CRASH_RESUBMITS); the next job resumes the sweep the same way.
# Starts, ends and resubmissions are logged in /scratch/runs/v1_maskcnn/jobs.log.
set -uo pipefail

ns_attempt=${NS_RESUBMIT:-0}  # resubmissions before this job (set by the previous job)
ns_crashes=${NS_CRASH_RESUBMITS:-0}  # resubmissions after an abnormal end (counted apart)
ns_max_resubmits=10
ns_max_crash_resubmits=3
ns_crash_pause=60
ns_script=/scratch/runs/v1_maskcnn/job-lsf.sh
ns_out=/scratch/runs/v1_maskcnn

ns_note() {
  printf '%s lsf job %s: %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "${LSB_JOBID:-?}" "$*" |
    tee -a "$ns_out/jobs.log" >&2
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



# 46 ranks: the coordinator (rank 0, first node) and 15 worker(s) per node.
ns_ntasks=46
export OMP_NUM_THREADS=2  # threads per rank = --cpus-per-rank

# Open MPI has no LSF support in Debian's build: give it the job's hosts and let it start remote
# ranks through blaunch when LSF provides it (else ssh).
ns_mpi=(--hostfile "${LSB_DJOB_HOSTFILE:?not inside an LSF job}")
command -v blaunch >/dev/null 2>&1 && ns_mpi+=(--mca plm_rsh_agent blaunch)
[ "$(id -u)" = 0 ] && ns_mpi+=(--allow-run-as-root)

ns_step=""
ns_signalled=0
# LSF signals every process of the job itself; forwarding would deliver a second signal.
trap 'ns_signalled=1' INT TERM USR1 USR2

ns_note "start: attempt $ns_attempt, $ns_ntasks ranks; crash resubmissions so far: $ns_crashes"
ns_t0=$(date +%s)
mpirun "${ns_mpi[@]}" -np "$ns_ntasks" --bind-to none \
    /opt/neurosweep/bin/neurosweep run /data/sweeps/v1_maskcnn.json --out /scratch/runs/v1_maskcnn --threads 2 &
ns_step=$!
# `wait` returns early whenever a trap runs: wait again until the step has really ended.
while :; do
  wait "$ns_step"
  kill -0 "$ns_step" 2>/dev/null || break
done
wait "$ns_step"
ns_rc=$?


# Submits this script again (arguments: drain and crash resubmissions so far). Sets ns_next.
ns_submit() {
  ns_next=$(NS_RESUBMIT=$1 NS_CRASH_RESUBMITS=$2 bsub < "$ns_script" 2>&1)
}

ns_take_own_status  # sets ns_rc to the run's own status when the launcher reports another
case $ns_rc in
  0) ns_note "sweep complete"; exit 0 ;;
  3) ;;
  2|4|5) ns_note "neurosweep run failed with status $ns_rc; not resubmitting (see the job's output)"
     exit "$ns_rc" ;;
  *) # killed ranks, a crash, an MPI failure or a lost host: worth another job, a bounded number
     if [ "$ns_signalled" = 1 ]; then
       ns_note "ended with status $ns_rc after a signal (bkill or preemption); not resubmitting. Resume: bsub < /scratch/runs/v1_maskcnn/job-lsf.sh"
       exit "$ns_rc"
     fi
     if [ "$ns_crashes" -ge "$ns_max_crash_resubmits" ]; then
       ns_note "crashed with status $ns_rc; $ns_max_crash_resubmits crash resubmissions done, stopping. Resume: bsub < /scratch/runs/v1_maskcnn/job-lsf.sh"
       exit "$ns_rc"
     fi
     ns_note "crashed with status $ns_rc; resubmitting (crash resubmission $((ns_crashes + 1)) of $ns_max_crash_resubmits) after $ns_crash_pause s"
     sleep "$ns_crash_pause"
     if [ "$ns_signalled" = 1 ]; then
       ns_note "signalled during the pause (bkill or preemption); not resubmitting. Resume: bsub < /scratch/runs/v1_maskcnn/job-lsf.sh"
       exit "$ns_rc"
     fi
     if ns_submit "$ns_attempt" $((ns_crashes + 1)); then
       ns_note "crashed; resubmitted ($ns_next)"
     else
       ns_note "crashed; resubmission failed ($ns_next). Resume: bsub < /scratch/runs/v1_maskcnn/job-lsf.sh"
     fi
     exit "$ns_rc" ;;
esac
if [ "$ns_signalled" = 1 ]; then
  ns_note "drained after a signal (bkill or preemption); not resubmitting. Resume: bsub < /scratch/runs/v1_maskcnn/job-lsf.sh"
  exit 3
fi
if [ "$ns_attempt" -ge "$ns_max_resubmits" ]; then
  ns_note "drained; $ns_max_resubmits resubmissions done, stopping. Resume: bsub < /scratch/runs/v1_maskcnn/job-lsf.sh"
  exit 3
fi
if ns_submit $((ns_attempt + 1)) "$ns_crashes"; then
  ns_note "drained; resubmitted ($ns_next; resubmission $((ns_attempt + 1)) of $ns_max_resubmits)"
else
  ns_note "drained; resubmission failed ($ns_next). Resume: bsub < /scratch/runs/v1_maskcnn/job-lsf.sh"
fi
exit 3
