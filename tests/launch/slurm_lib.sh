# Helpers shared by the Slurm end-to-end tests (slurm_e2e.sh, slurm_multinode.sh), sourced after
# they define `fail`, `work` (the scratch folder) and the array `daemon_pids`, and point SLURM_CONF
# at their cluster.

# Starts a private munged (key, socket, pid, seed and log under $work) and waits for its socket;
# its pid goes into daemon_pids. Every client and daemon of the test's Slurm reaches it through
# AuthInfo=socket=$work/run/munge.socket (slurm_conf_common).
start_munged() {
  mkdir -p "$work/munge" "$work/run" "$work/state" "$work/log"
  chmod 700 "$work/munge"
  chmod 755 "$work/run"
  dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
  chmod 600 "$work/munge/munge.key"
  munged --foreground --force --key-file="$work/munge/munge.key" --socket="$work/run/munge.socket" \
    --pid-file="$work/munge/munged.pid" --log-file="$work/log/munged.log" \
    --seed-file="$work/munge/munged.seed" >>"$work/log/munged.log" 2>&1 &
  daemon_pids+=($!)
  local _
  for _ in $(seq 50); do [ -S "$work/run/munge.socket" ] && break; sleep 0.1; done
}

# The slurm.conf lines both private clusters share (root daemons, munge through the test's own
# socket, state and spool under $work, no cgroups, no accounting), written to stdout; each test
# adds its host, ports, pid and log files, nodes and partition.
slurm_conf_common() {
  cat <<EOF
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$work/run/munge.socket
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool/%n
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
SchedulerType=sched/builtin
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
SlurmdParameters=config_overrides
KillWait=10
InactiveLimit=0
EOF
}

# scaled SECONDS: SECONDS x NS_TEST_TIME_SCALE (the one test time factor), as an integer.
scaled() { awk -v b="$1" -v k="${NS_TEST_TIME_SCALE:-1}" 'BEGIN { printf "%d", b * k }'; }

# Waits (at most $2 seconds, scaled) until the sweep in $1 wrote a final line to jobs.log and no
# job is left in the queue.
wait_sweep() {
  local out=$1 bound start
  bound=$(scaled "$2")
  start=$(date +%s)
  while :; do
    if [ -z "$(squeue -h -o %i)" ] && [ -f "$out/jobs.log" ] &&
       tail -n 1 "$out/jobs.log" | grep -Eq 'sweep complete|failed|stopping|not resubmitting'; then
      return 0
    fi
    [ $(( $(date +%s) - start )) -lt "$bound" ] || fail "sweep in $out not done after ${bound}s"
    sleep 1
  done
}

# spec NAME SLEEP_S NX NY: a quadratic grid of NX x NY trials that sleep SLEEP_S each, written to
# stdout, its output in $work/NAME.
spec() {
  python3 - "$work" "$@" <<'PY'
import json, sys
work, name, sleep, nx, ny = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
print(json.dumps({"name": name, "family": "quadratic", "training": {"sleep_s": sleep},
                  "grid": {"x": [round(-1 + 0.1 * i, 3) for i in range(nx)],
                           "y": [round(0.1 * j, 3) for j in range(ny)]},
                  "metric": "score", "mode": "max", "out": f"{work}/{name}"}, indent=1))
PY
}

# Checks that the sweep in $1 was cut by the time limit and finished by follow-up jobs: a job got
# USR1 (jobs.log), the coordinator drained on it (the job's output), the script resubmitted
# itself, and the last job completed the sweep. Prints jobs.log first.
check_drained() {
  local out=$1
  cat "$out/jobs.log"
  grep -q 'time limit near (USR1)' "$out/jobs.log" || fail "$out: no job got the USR1 warning"
  grep -q 'draining (received User defined signal 1)' "$out"/logs/slurm-*.out ||
    fail "$out: the USR1 the batch shell got never reached the coordinator"
  grep -q 'resubmitted as job' "$out/jobs.log" || fail "$out: the sweep was never resubmitted"
  tail -n 1 "$out/jobs.log" | grep -q 'sweep complete' || fail "$out: the follow-up jobs did not finish"
}

# Stops the daemons in daemon_pids (the test's munged, slurmctld, slurmds): TERM, at most 5 s each
# to end, then KILL. For the tests' cleanup.
stop_daemons() {
  local pid _
  for pid in "${daemon_pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${daemon_pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  return 0
}

# After a failure: the last 25 lines of each daemon log, job output and jobs.log under $work.
dump_logs() {
  local f
  for f in "$work"/log/*.log "$work"/*/logs/*.out "$work"/*/jobs.log; do
    [ -f "$f" ] && { echo "----- $f (last 25 lines)"; tail -n 25 "$f"; }
  done
  return 0
}
