#!/usr/bin/env bash
# The scripts `neurosweep launch slurm|lsf|local` write, on each way `neurosweep run` can end:
# a crash (137, 139, 1, ...) is resubmitted (local: rerun) at most --max-crash-resubmits times,
# after --crash-pause seconds, counted apart from the drains; a sweep error (2), a lock refusal (4)
# and an unwritable output (5) never are; a drain (3) resubmits as before; 0 ends.
# Fake sbatch, bsub, srun and mpirun on PATH record their calls; srun/mpirun exit with the
# statuses under test (NS_FAKE_STATUSES, one per launch, the last repeating). The test plays the
# scheduler: it runs each submitted job in turn with the arguments (Slurm) or environment (LSF)
# the previous job submitted it with.
# Run: ctest --test-dir build -R launch_resubmit --output-on-failure
# or by hand: NS_BINARY=build/app/neurosweep bash tests/launch/resubmit.sh   (NS_KEEP=1 keeps files)
set -uo pipefail

: "${NS_BINARY:?set NS_BINARY to the neurosweep binary}"
say() { printf '[resubmit] %s\n' "$*"; }
failures=0
fail() { say "FAIL: $*"; failures=$((failures + 1)); }
for tool in setsid tee; do
  command -v "$tool" >/dev/null || { say "skip: no $tool"; exit 77; }
done

work=$(mktemp -d /tmp/ns_resubmit.XXXXXX)
cleanup() {
  local rc=$?
  if [ "${NS_KEEP:-0}" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
  exit $rc
}
trap cleanup EXIT

# --- fakes -----------------------------------------------------------------------------------
mkdir -p "$work/bin"
cat >"$work/bin/fake_step" <<'EOF'
#!/usr/bin/env bash
# srun / mpirun: records the call, exits with the next status of NS_FAKE_STATUSES.
n=0
[ -f "$NS_FAKE_DIR/steps" ] && n=$(wc -l <"$NS_FAKE_DIR/steps")
echo "$(basename "$0") $*" >>"$NS_FAKE_DIR/steps"
# scancel / bkill / Ctrl-C: the job's shell gets TERM while the ranks die.
[ "${NS_FAKE_TERM_PARENT:-0}" = 1 ] && kill -TERM "$PPID"
# The run's state.json as it ends, as neurosweep writes it (NS_FAKE_STATE: its "state";
# NS_FAKE_OWN: its "exit_status", none when empty); only for the first launch.
if [ -n "${NS_FAKE_STATE:-}" ] && [ "$n" = 0 ]; then
  { printf '{\n  "state": "%s",\n' "$NS_FAKE_STATE"
    [ -n "${NS_FAKE_OWN:-}" ] && printf '  "exit_status": %s,\n' "$NS_FAKE_OWN"
    printf '  "rows": 1\n}\n'; } >"$NS_FAKE_STATE_FILE"
fi
read -r -a st <<<"$NS_FAKE_STATUSES"
i=$n
[ "$i" -lt "${#st[@]}" ] || i=$((${#st[@]} - 1))
exit "${st[$i]}"
EOF
cat >"$work/bin/sbatch" <<'EOF'
#!/usr/bin/env bash
# sbatch --parsable SCRIPT ATTEMPT CRASHES: records the call and the next job's arguments.
echo "sbatch $*" >>"$NS_FAKE_DIR/submits"
[ -z "${SLURM_JOB_ID:-}" ] || { echo "SLURM_JOB_ID leaked into sbatch" >&2; exit 1; }
shift 2
echo "$*" >"$NS_FAKE_DIR/next"
echo "$((1000 + $(wc -l <"$NS_FAKE_DIR/submits")));cluster"
EOF
cat >"$work/bin/bsub" <<'EOF'
#!/usr/bin/env bash
# bsub < SCRIPT: records the counts the next job gets in its environment.
cat >/dev/null
echo "bsub NS_RESUBMIT=${NS_RESUBMIT:-} NS_CRASH_RESUBMITS=${NS_CRASH_RESUBMITS:-}" >>"$NS_FAKE_DIR/submits"
echo "${NS_RESUBMIT:-} ${NS_CRASH_RESUBMITS:-}" >"$NS_FAKE_DIR/next"
echo "Job <$((2000 + $(wc -l <"$NS_FAKE_DIR/submits")))> is submitted to default queue <normal>."
EOF
chmod +x "$work/bin/"*
ln -s fake_step "$work/bin/srun"
ln -s fake_step "$work/bin/mpirun"
export PATH="$work/bin:$PATH" NS_FAKE_DIR="$work/fake"
echo "localhost" >"$work/hosts"

# --- helpers ---------------------------------------------------------------------------------
# write SCHEDULER [launch options]: writes $work/<scheduler>/job.sh for a fresh output directory.
write() {
  local s=$1
  shift
  rm -rf "$work/$s"
  mkdir -p "$work/$s"
  printf '{"name": "rs", "family": "quadratic", "out": "%s/%s/out"}\n' "$work" "$s" >"$work/$s/spec.json"
  "$NS_BINARY" launch "$s" "$work/$s/spec.json" --binary /bin/false --script "$work/$s/job.sh" \
    --ranks-per-node 1 "$@" >"$work/$s/launch.txt" 2>&1 || {
    fail "launch $s $* failed: $(cat "$work/$s/launch.txt")"
    return 1
  }
}

# chain SCHEDULER STATUSES: runs the job and every job it submits (at most 12). Sets jobs (jobs
# run), rc (the last job's status), steps (srun/mpirun calls); the log is $work/<s>/out/jobs.log.
chain() {
  local s=$1 args=()
  export NS_FAKE_STATUSES=$2
  rm -rf "$NS_FAKE_DIR"
  mkdir -p "$NS_FAKE_DIR"
  jobs=0
  while :; do
    jobs=$((jobs + 1))
    [ $jobs -le 12 ] || { fail "$s '$2': more than 12 jobs"; break; }
    rm -f "$NS_FAKE_DIR/next"
    case $s in
      slurm) SLURM_JOB_ID=$jobs bash "$work/$s/job.sh" "${args[@]}" ;;
      lsf) if [ ${#args[@]} -eq 0 ]; then
             env -u NS_RESUBMIT -u NS_CRASH_RESUBMITS LSB_JOBID=$jobs \
               LSB_DJOB_HOSTFILE="$work/hosts" bash "$work/$s/job.sh"
           else
             NS_RESUBMIT=${args[0]} NS_CRASH_RESUBMITS=${args[1]} LSB_JOBID=$jobs \
               LSB_DJOB_HOSTFILE="$work/hosts" bash "$work/$s/job.sh"
           fi ;;
      local) bash "$work/$s/job.sh" ;;
    esac >>"$work/$s/stderr.txt" 2>&1
    rc=$?
    [ -f "$NS_FAKE_DIR/next" ] || break
    read -r -a args <"$NS_FAKE_DIR/next"
  done
  steps=0
  [ -f "$NS_FAKE_DIR/steps" ] && steps=$(wc -l <"$NS_FAKE_DIR/steps")
  return 0
}

# expect WHAT JOBS STEPS RC: checks the last chain.
expect() {
  [ "$jobs" = "$2" ] || fail "$1: $jobs job(s), expected $2"
  [ "$steps" = "$3" ] || fail "$1: $steps launch(es) of the ranks, expected $3"
  [ "$rc" = "$4" ] || fail "$1: last status $rc, expected $4"
}

# log_has WHAT SCHEDULER TEXT: jobs.log has a line with TEXT.
log_has() {
  grep -qF -- "$3" "$work/$2/out/jobs.log" 2>/dev/null ||
    fail "$1: $2 jobs.log lacks '$3':$(echo; cat "$work/$2/out/jobs.log" 2>/dev/null)"
}
log_lacks() {
  ! grep -qF -- "$3" "$work/$2/out/jobs.log" 2>/dev/null ||
    fail "$1: $2 jobs.log has '$3':$(echo; cat "$work/$2/out/jobs.log")"
}
submits() { cat "$NS_FAKE_DIR/submits" 2>/dev/null; }

# --- Slurm and LSF ---------------------------------------------------------------------------
for s in slurm lsf; do
  say "$s"
  for st in 137 139 1; do
    write "$s" --max-crash-resubmits 2 --crash-pause 0 || continue
    chain "$s" "$st"
    expect "$s crash $st" 3 3 "$st"
    log_has "$s crash $st" "$s" "crashed with status $st; resubmitting (crash resubmission 1 of 2) after 0 s"
    log_has "$s crash $st" "$s" "crashed with status $st; resubmitting (crash resubmission 2 of 2) after 0 s"
    log_has "$s crash $st" "$s" "crashed with status $st; 2 crash resubmissions done, stopping"
  done
  if [ "$s" = slurm ]; then
    want=$'sbatch --parsable '"$work/slurm/job.sh"$' 0 1\nsbatch --parsable '"$work/slurm/job.sh"' 0 2'
  else
    want=$'bsub NS_RESUBMIT=0 NS_CRASH_RESUBMITS=1\nbsub NS_RESUBMIT=0 NS_CRASH_RESUBMITS=2'
  fi
  [ "$(submits)" = "$want" ] || fail "$s crash: submissions$(echo; submits), expected$(echo; echo "$want")"

  # A crash, then a complete run.
  write "$s" --crash-pause 0 || continue
  chain "$s" "139 0"
  expect "$s crash then complete" 2 2 0
  log_has "$s crash then complete" "$s" "(crash resubmission 1 of 3) after 0 s"
  log_has "$s crash then complete" "$s" "sweep complete"

  # Never after a sweep error, a lock refusal or an unwritable output.
  for st in 2 4 5; do
    write "$s" --crash-pause 0 || continue
    chain "$s" "$st"
    expect "$s status $st" 1 1 "$st"
    [ -z "$(submits)" ] || fail "$s status $st was resubmitted: $(submits)"
    log_has "$s status $st" "$s" "neurosweep run failed with status $st; not resubmitting"
  done

  # 0 disables crash resubmission.
  write "$s" --max-crash-resubmits 0 --crash-pause 0 || continue
  chain "$s" 137
  expect "$s --max-crash-resubmits 0" 1 1 137
  [ -z "$(submits)" ] || fail "$s --max-crash-resubmits 0 resubmitted: $(submits)"

  # Drains keep today's bound, and the two counts are kept apart: drain, crash, drain, crash,
  # crash (the bound of 2 is reached), with --max-resubmits 5.
  write "$s" --max-resubmits 5 --max-crash-resubmits 2 --crash-pause 0 || continue
  chain "$s" "3 137 3 139 1"
  expect "$s drains and crashes" 5 5 1
  if [ "$s" = slurm ]; then
    want=$(printf 'sbatch --parsable %s %s\n' "$work/slurm/job.sh" "1 0" "$work/slurm/job.sh" "1 1" \
      "$work/slurm/job.sh" "2 1" "$work/slurm/job.sh" "2 2")
  else
    want=$(printf 'bsub NS_RESUBMIT=%s NS_CRASH_RESUBMITS=%s\n' 1 0 1 1 2 1 2 2)
  fi
  [ "$(submits)" = "$want" ] || fail "$s drains and crashes: submissions$(echo; submits), expected$(echo; echo "$want")"
  log_has "$s drains and crashes" "$s" "resubmission 2 of 5"
  log_has "$s drains and crashes" "$s" "crashed with status 1; 2 crash resubmissions done, stopping"
  log_has "$s drains and crashes" "$s" "start: attempt 2, 2 ranks"
  log_has "$s drains and crashes" "$s" "crash resubmissions so far: 2"

  write "$s" --max-resubmits 2 --crash-pause 0 || continue
  chain "$s" 3
  expect "$s drain" 3 3 3
  log_has "$s drain" "$s" "drained; 2 resubmissions done, stopping"
  log_lacks "$s drain" "$s" "crashed"

  write "$s" --crash-pause 0 || continue
  chain "$s" 0
  expect "$s complete" 1 1 0
  [ -z "$(submits)" ] || fail "$s complete was resubmitted: $(submits)"
done

# A crash after scancel / bkill (TERM reached the script) is never resubmitted, nor when TERM
# comes during the pause.
for s in slurm lsf local; do
  write "$s" --crash-pause 0 || continue
  NS_FAKE_TERM_PARENT=1 chain "$s" 143
  [ "$jobs" = 1 ] && [ "$steps" = 1 ] || fail "$s TERM then 143: $jobs job(s), $steps launch(es)"
  [ -z "$(submits)" ] || fail "$s TERM then 143 was resubmitted: $(submits)"
  log_has "$s TERM then 143" "$s" "ended with status"
  log_lacks "$s TERM then 143" "$s" "crashed"
done
for s in slurm lsf; do
  write "$s" --crash-pause 60 || continue
  export NS_FAKE_STATUSES=137
  rm -rf "$NS_FAKE_DIR"
  mkdir -p "$NS_FAKE_DIR"
  # Its own process group, as a batch job is: TERM reaches the script and its sleep.
  LSB_DJOB_HOSTFILE="$work/hosts" setsid bash "$work/$s/job.sh" >>"$work/$s/stderr.txt" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    grep -q "after 60 s" "$work/$s/out/jobs.log" 2>/dev/null && break
    sleep 0.1
  done
  kill -TERM -- "-$pid"
  wait "$pid"
  rc=$?
  [ "$rc" = 137 ] || fail "$s TERM during the pause: status $rc, expected 137"
  [ -z "$(submits)" ] || fail "$s TERM during the pause was resubmitted: $(submits)"
  log_has "$s TERM during the pause" "$s" "during the pause"
done

# The pause is taken before the resubmission.
write slurm --max-crash-resubmits 1 --crash-pause 1 && {
  t0=$(date +%s%N)
  chain slurm "137 0"
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  expect "slurm --crash-pause 1" 2 2 0
  log_has "slurm --crash-pause 1" slurm "(crash resubmission 1 of 1) after 1 s"
  [ "$ms" -ge 1000 ] || fail "slurm --crash-pause 1: the chain took $ms ms, less than the pause"
}

# A step whose launcher reports another status than the run's own (rank 0 ends the job with
# MPI_Abort when a rank it took out as silent never answered; srun reports 137): the state.json
# this step's run wrote at its end holds its own status, which decides. A "running" state.json
# (no exit_status: the run crashed) or an earlier run's is a crash as before.
for s in slurm lsf local; do
  write "$s" --crash-pause 0 || continue
  mkdir -p "$work/$s/out"
  NS_FAKE_STATE=complete NS_FAKE_OWN=0 NS_FAKE_STATE_FILE="$work/$s/out/state.json" chain "$s" "137 0"
  expect "$s 137 after complete" 1 1 0
  [ -z "$(submits)" ] || fail "$s 137 after complete was resubmitted: $(submits)"
  log_has "$s 137 after complete" "$s" "the step ended with status 137 after the run ended with status 0 (state.json); taken as 0"
  log_lacks "$s 137 after complete" "$s" "crashed"

  write "$s" --crash-pause 0 || continue
  mkdir -p "$work/$s/out"
  NS_FAKE_STATE=interrupted NS_FAKE_OWN=3 NS_FAKE_STATE_FILE="$work/$s/out/state.json" chain "$s" "137 0"
  log_has "$s 137 after a drain" "$s" "after the run ended with status 3 (state.json); taken as 3"
  log_lacks "$s 137 after a drain" "$s" "crashed"
  if [ "$s" = local ]; then
    expect "$s 137 after a drain" 1 1 3
  else
    expect "$s 137 after a drain" 2 2 0
    log_has "$s 137 after a drain" "$s" "drained; resubmitted"
    log_has "$s 137 after a drain" "$s" "crash resubmissions so far: 0"
  fi

  write "$s" --crash-pause 0 || continue
  mkdir -p "$work/$s/out"
  NS_FAKE_STATE=interrupted NS_FAKE_OWN=5 NS_FAKE_STATE_FILE="$work/$s/out/state.json" chain "$s" "137 0"
  expect "$s 137 after a refused write" 1 1 5
  [ -z "$(submits)" ] || fail "$s 137 after a refused write was resubmitted: $(submits)"

  write "$s" --crash-pause 0 || continue
  mkdir -p "$work/$s/out"
  NS_FAKE_STATE=running NS_FAKE_STATE_FILE="$work/$s/out/state.json" chain "$s" "137 0"
  [ "$steps" = 2 ] || fail "$s 137 with state running: $steps launch(es), expected 2"
  log_has "$s 137 with state running" "$s" "crashed with status 137"

  write "$s" --crash-pause 0 || continue
  mkdir -p "$work/$s/out"
  printf '{\n  "state": "complete",\n  "exit_status": 0\n}\n' >"$work/$s/out/state.json"
  touch -d '-1 hour' "$work/$s/out/state.json"  # an earlier run's
  chain "$s" "137 0"
  [ "$steps" = 2 ] || fail "$s 137 with an earlier complete state.json: $steps launch(es), expected 2"
  log_has "$s 137 with an earlier complete state.json" "$s" "crashed with status 137"
done

# --- local: reruns inside the one script -------------------------------------------------------
say local
write local --max-crash-resubmits 2 --crash-pause 0 && {
  chain local 137
  expect "local crash" 1 3 137
  log_has "local crash" local "crashed with status 137; rerunning (crash rerun 1 of 2) after 0 s"
  log_has "local crash" local "crashed with status 137; rerunning (crash rerun 2 of 2) after 0 s"
  log_has "local crash" local "crashed with status 137; 2 crash reruns done, stopping"
  chain local "139 1 0"
  expect "local crashes then complete" 1 3 0
}
for st in 0 2 3 4 5; do
  write local --crash-pause 0 || continue
  chain local "$st"
  expect "local status $st" 1 1 "$st"
  log_lacks "local status $st" local "crashed"
done
write local --max-crash-resubmits 0 --crash-pause 0 && {
  chain local 139
  expect "local --max-crash-resubmits 0" 1 1 139
}

if [ $failures -gt 0 ]; then
  say "$failures failure(s)"
  exit 1
fi
say "ok"
