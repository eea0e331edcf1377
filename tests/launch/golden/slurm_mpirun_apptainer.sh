#!/bin/bash
#SBATCH --job-name=v1_maskcnn
#SBATCH --output=/scratch/runs/v1_maskcnn/logs/slurm-%j.out
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=4
#SBATCH --time=1-12:00:00
#SBATCH --signal=B:USR1@600
#
# neurosweep sweep job for Slurm, written by `neurosweep launch slurm`.
#   sweep:  /data/sweeps/v1_maskcnn.json
#   output: /scratch/runs/v1_maskcnn
#   submit: sbatch /scratch/runs/v1_maskcnn/job-slurm.sh
#
# Time limit: Slurm sends USR1 to this shell alone, 600 s before the end
# (--signal=B:USR1@600). The shell passes it on once to the MPI step; the coordinator
# stops handing out trials, the workers checkpoint, and `neurosweep run` exits with status 3
# (interrupted, resumable). The shell then submits this script again, at most 10
# times in a row, and the next job resumes the sweep: finished trials are skipped, trials in
# flight continue from their checkpoints. The coordinator also reads the job's end time itself
# and stops starting trials that would not finish (`neurosweep run --deadline-margin`).
# scancel (TERM without a prior USR1) drains the same way but is not resubmitted.
# An abnormal end (killed ranks, a crash, an MPI failure, a lost node: any status but 0, 2 bad
# input, 3 drained, 4 directory locked, 5 cannot write) is resubmitted after 60 s, at
# most 3 times (--max-crash-resubmits, counted apart from the drains); the
# next job resumes the sweep the same way.
# Starts, ends and resubmissions are logged in /scratch/runs/v1_maskcnn/jobs.log.
set -uo pipefail

ns_attempt=${1:-0}  # resubmissions before this job; the next one gets $((ns_attempt + 1))
ns_crashes=${2:-0}  # resubmissions after an abnormal end before this job (counted apart)
ns_max_resubmits=10
ns_max_crash_resubmits=3
ns_crash_pause=60
ns_script=/scratch/runs/v1_maskcnn/job-slurm.sh
ns_out=/scratch/runs/v1_maskcnn

ns_note() {
  printf '%s slurm job %s: %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "${SLURM_JOB_ID:-?}" "$*" |
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



# 4 ranks: the coordinator (rank 0, first node) and 3 worker(s) per node.
ns_ntasks=4
ns_mpi=()
[ "$(id -u)" = 0 ] && ns_mpi+=(--allow-run-as-root)

ns_step=""
ns_usr1=0
ns_term=0
# Forward the time-limit warning to srun/mpirun, which pass it to every rank.
trap 'ns_usr1=1; [ -n "$ns_step" ] && kill -USR1 "$ns_step" 2>/dev/null
      ns_note "time limit near (USR1): draining"' USR1
# scancel and the time limit signal every process of the job themselves: only note it here, since
# a second signal to the ranks would turn their drain into an abort.
trap 'ns_term=1' TERM

ns_note "start: attempt $ns_attempt, $ns_ntasks ranks on ${SLURM_JOB_NUM_NODES:-1} node(s); crash resubmissions so far: $ns_crashes"
# A rank that dies takes the whole step down (--kill-on-bad-exit / mpirun's default) instead of
# leaving the others waiting for it; after a drain this only ends workers that are already idle.
# The #SBATCH per-node count reaches srun as SLURM_NTASKS_PER_NODE; srun gets its layout from
# --ntasks and the distribution instead (with both, srun 22.05 warns "can't honor
# --ntasks-per-node" whenever ntasks is not nodes x that count).
unset SLURM_NTASKS_PER_NODE
ns_t0=$(date +%s)
mpirun "${ns_mpi[@]}" -np "$ns_ntasks" --bind-to none \
    apptainer exec --bind /data/sweeps:/data/sweeps,/scratch/runs/v1_maskcnn:/scratch/runs/v1_maskcnn /images/neurosweep.sif \
    neurosweep run /data/sweeps/v1_maskcnn.json --out /scratch/runs/v1_maskcnn --deadline-margin 60 &
ns_step=$!
# `wait` returns early whenever a trap runs: wait again until the step has really ended.
while :; do
  wait "$ns_step"
  kill -0 "$ns_step" 2>/dev/null || break
done
wait "$ns_step"
ns_rc=$?

# Submits this script again (arguments: drain and crash resubmissions so far) from a clean
# environment: this job's SLURM_* variables must not leak into the next one. Sets ns_next.
ns_submit() {
  ns_next=$(
    for ns_v in $(compgen -e); do
      case $ns_v in SLURM_CONF) ;; SLURM_*) unset "$ns_v" ;; esac
    done
    sbatch --parsable "$ns_script" "$1" "$2" 2>&1
  )
}

ns_take_own_status  # sets ns_rc to the run's own status when the launcher reports another
case $ns_rc in
  0) ns_note "sweep complete"; exit 0 ;;
  3) ;;
  2|4|5) ns_note "neurosweep run failed with status $ns_rc; not resubmitting (see the job's output)"
     exit "$ns_rc" ;;
  *) # killed ranks, a crash, an MPI failure or a lost node: worth another job, a bounded number
     if [ "$ns_term" = 1 ] && [ "$ns_usr1" = 0 ]; then
       ns_note "ended with status $ns_rc after TERM (scancel or preemption); not resubmitting. Resume: sbatch $ns_script"
       exit "$ns_rc"
     fi
     if [ "$ns_crashes" -ge "$ns_max_crash_resubmits" ]; then
       ns_note "crashed with status $ns_rc; $ns_max_crash_resubmits crash resubmissions done, stopping. Resume: sbatch $ns_script"
       exit "$ns_rc"
     fi
     ns_note "crashed with status $ns_rc; resubmitting (crash resubmission $((ns_crashes + 1)) of $ns_max_crash_resubmits) after $ns_crash_pause s"
     sleep "$ns_crash_pause"
     if [ "$ns_term" = 1 ] && [ "$ns_usr1" = 0 ]; then
       ns_note "TERM during the pause (scancel or preemption); not resubmitting. Resume: sbatch $ns_script"
       exit "$ns_rc"
     fi
     if ns_submit "$ns_attempt" $((ns_crashes + 1)); then
       ns_note "crashed; resubmitted as job ${ns_next%%;*}"
     else
       ns_note "crashed; resubmission failed ($ns_next). Resume: sbatch $ns_script"
     fi
     exit "$ns_rc" ;;
esac
if [ "$ns_term" = 1 ] && [ "$ns_usr1" = 0 ]; then
  ns_note "drained after TERM (scancel or preemption); not resubmitting. Resume: sbatch $ns_script"
  exit 3
fi
if [ "$ns_attempt" -ge "$ns_max_resubmits" ]; then
  ns_note "drained; $ns_max_resubmits resubmissions done, stopping. Resume: sbatch $ns_script"
  exit 3
fi
if ns_submit $((ns_attempt + 1)) "$ns_crashes"; then
  ns_note "drained; resubmitted as job ${ns_next%%;*} (resubmission $((ns_attempt + 1)) of $ns_max_resubmits)"
else
  ns_note "drained; resubmission failed ($ns_next). Resume: sbatch $ns_script"
fi
exit 3
