#!/usr/bin/env bash
# `neurosweep launch slurm` against a real Slurm: starts munged, slurmctld and slurmd (Debian's
# packages; scripts/setup.sh --deps installs them) as background processes for a private
# single-node cluster on this machine, then
#   1. submits the script `launch slurm` wrote and checks that results.csv holds every trial once;
#   2. launches a slower sweep with a 1-minute time limit, so Slurm's USR1 warning cuts the first
#      job; checks that the script drained, resubmitted itself, and the follow-up job(s) finished
#      the sweep with every trial exactly once.
# Takes 1.5 to 2 minutes. Run: ctest --test-dir build -L slurm --output-on-failure
# or by hand: NS_BINARY=build/app/neurosweep bash tests/launch/slurm_e2e.sh
# (NS_KEEP=1 keeps the scratch folder; NS_LAUNCH_CMD replaces "$NS_BINARY launch".)
# Exit 77 (ctest: skipped) when Slurm or munge is not installed or this is not root.
set -euo pipefail

: "${NS_BINARY:?set NS_BINARY to the neurosweep binary}"
read -r -a launch <<<"${NS_LAUNCH_CMD:-$NS_BINARY launch}"
binary_opt=()  # a separate launch command must be told which binary runs the sweep
[ -n "${NS_LAUNCH_CMD:-}" ] && binary_opt=(--binary "$NS_BINARY")
t0=$(date +%s)
say() { printf '[slurm_e2e %3ds] %s\n' $(( $(date +%s) - t0 )) "$*"; }
fail() { say "FAIL: $*"; exit 1; }
source "$(dirname "$0")/slurm_lib.sh"  # scaled, wait_sweep, spec

for tool in munged slurmctld slurmd sbatch squeue scancel mpirun python3; do
  command -v "$tool" >/dev/null || { say "skip: $tool not found (bash scripts/setup.sh --deps)"; exit 77; }
done
[ "$(id -u)" = 0 ] || { say "skip: a private slurmd must run as root"; exit 77; }
"${launch[@]}" slurm --help >/dev/null 2>&1 || fail "'${launch[*]} slurm' does not work"

work=$(mktemp -d /tmp/ns_slurm_e2e.XXXXXX)
chmod 755 "$work"  # munged refuses a socket folder (and path) that is not world-executable
daemon_pids=()

cleanup() {
  local rc=$?
  set +e
  if [ -n "${SLURM_CONF:-}" ] && [ ${#daemon_pids[@]} -gt 0 ]; then
    # Jobs first (their slurmstepd processes outlive slurmd), then the daemons by recorded pid:
    # slurmd removes its pidfile, so the pids come from `$!`.
    scancel --full --quiet $(squeue -h -o %i 2>/dev/null) 2>/dev/null
    for _ in $(seq 50); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.2; done
  fi
  if [ $rc -ne 0 ]; then
    dump_logs
  fi
  stop_daemons
  if [ "${NS_KEEP:-0}" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- a private cluster -----------------------------------------------------------------------
mkdir -p "$work/spool/localhost"
start_munged

read -r ctld_port slurmd_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
{ cat <<EOF
ClusterName=nse2e
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmctldPidFile=$work/run/slurmctld.pid
SlurmdPidFile=$work/run/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
EOF
  slurm_conf_common
  cat <<EOF
NodeName=localhost NodeAddr=127.0.0.1 CPUs=4 RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
} >"$work/slurm.conf"
export SLURM_CONF=$work/slurm.conf  # every client (sbatch, squeue, srun) needs it for AuthInfo

slurmctld -D -i >>"$work/log/slurmctld.out" 2>&1 &
daemon_pids+=($!)
slurmd -D -N localhost >>"$work/log/slurmd.out" 2>&1 &  # this host is not called localhost
daemon_pids+=($!)
for _ in $(seq 100); do
  sinfo -h -o %T 2>/dev/null | grep -q idle && break
  sleep 0.1
done
sinfo -h -o %T 2>/dev/null | grep -q idle || fail "the private Slurm did not come up"
say "Slurm up (slurmctld :$ctld_port, slurmd :$slurmd_port)"

# --- helpers (scaled, wait_sweep and spec are in slurm_lib.sh) --------------------------------

# Checks results.csv in $1: $2 rows, each trial id once, every status ok.
check_results() {
  local out=$1 want=$2
  python3 - "$out/results.csv" "$want" <<'PY' || fail "results in $1 are not complete"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
want = int(sys.argv[2])
ids = [r["trial_id"] for r in rows]
bad = [r for r in rows if r["status"] != "ok"]
print(f"  {len(rows)} rows, {len(set(ids))} distinct trial ids, {len(bad)} not ok (want {want})")
sys.exit(0 if len(rows) == want and len(set(ids)) == want and not bad else 1)
PY
}


# --- 1. a whole sweep through the printed submit command ---------------------------------------
spec full 0.3 4 3 >"$work/full.json"
submit=$("${launch[@]}" slurm "$work/full.json" "${binary_opt[@]}" --ranks-per-node 2 --time 5 --max-resubmits 0)
[ "$submit" = "sbatch $work/full/job-slurm.sh" ] || fail "unexpected submit command: $submit"
say "1: $submit"
eval "$submit"
wait_sweep "$work/full" 90
grep -q 'start: attempt 0, 3 ranks' "$work/full/jobs.log" || fail "job 1 did not start 3 ranks"
tail -n 1 "$work/full/jobs.log" | grep -q 'sweep complete' || fail "1: no 'sweep complete' in jobs.log"
check_results "$work/full" 12
say "1: sweep complete in one job"

# --- 2. a sweep cut by the time limit ----------------------------------------------------------
# 40 trials x 2.5 s on 2 workers = 50 s of work. A job may run 60 s, and Slurm sends USR1 up to
# 30 s before the nominal 20 s margin (it checks limits every 30 s), so 10..40 s into each job:
# the first job never finishes, and 8 follow-ups are enough even when each gets only 10 s. The
# coordinator's own end-time margin is shortened so that USR1 is what stops it.
spec cut 2.5 8 5 >"$work/cut.json"
"${launch[@]}" slurm "$work/cut.json" "${binary_opt[@]}" --ranks-per-node 2 --time 1 --signal-margin 20 \
  --max-resubmits 8 --submit -- --deadline-margin 5 >"$work/cut_submit.txt"
say "2: $(cat "$work/cut_submit.txt")"
wait_sweep "$work/cut" 170
check_drained "$work/cut"
check_results "$work/cut" 40
say "2: sweep cut at the time limit and finished by $(grep -c 'start: attempt' "$work/cut/jobs.log") jobs"
say "PASS"
