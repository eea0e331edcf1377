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
set -uo pipefail

ns_out=/scratch/runs/v1_maskcnn
mkdir -p "$ns_out"


# Physical cores (Open MPI's default slot count): more ranks than that need --oversubscribe.
ns_cores=$(lscpu -p=Core,Socket 2>/dev/null | grep -v '^#' | sort -u | wc -l)
[ "${ns_cores:-0}" -gt 0 ] || ns_cores=$(nproc)
# 3 ranks: the coordinator (rank 0) and 2 worker(s), one per GPU.
ns_ntasks=3
export NS_GPUS_PER_NODE=2  # --gpus-per-node: `run --device auto` stops if the binary cannot use GPUs
ns_mpi=()
[ "$ns_ntasks" -gt "$ns_cores" ] && ns_mpi+=(--oversubscribe)
[ "$(id -u)" = 0 ] && ns_mpi+=(--allow-run-as-root)

ns_step=""
trap '[ -n "$ns_step" ] && kill -USR1 "$ns_step" 2>/dev/null' INT TERM USR1

setsid mpirun "${ns_mpi[@]}" -np "$ns_ntasks" --bind-to none -x NS_GPUS_PER_NODE \
    /opt/neurosweep/bin/neurosweep run /data/sweeps/v1_maskcnn.json --out /scratch/runs/v1_maskcnn --deadline 3h &
ns_step=$!
# `wait` returns early whenever a trap runs: wait again until the step has really ended.
while :; do
  wait "$ns_step"
  kill -0 "$ns_step" 2>/dev/null || break
done
wait "$ns_step"
exit $?
