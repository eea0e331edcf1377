#!/usr/bin/env bash
# Issue 30: what happens to the MPI job when one worker rank is SIGKILLed (as the OOM killer or a
# node failure would). Measured here and pinned: Open MPI's mpirun takes the whole job down
# (its default for a process that dies) instead of leaving the other ranks waiting; it ends with
# a status that is none of neurosweep's own (0, 2, 3, 4, 5), so the job scripts treat it as a
# crash and resubmit within --max-crash-resubmits (launch/README.md). state.json is left
# "running" when the teardown kills rank 0 before it writes its state (the next run then warns,
# cli_killed_run). The rows written before the kill stay, and a rerun completes the sweep with
# every trial once.
source "$(dirname "$0")/lib.sh"
cat >"$TMP/spec.json" <<JSON
{"name": "rank_killed", "family": "quadratic", "grid": {"x": [0, 1, 2, 3, 4, 5], "y": [-2, -1]},
 "training": {"sleep_s": 0.5}, "metric": "score", "mode": "max", "out": "$TMP/sweep"}
JSON
rows() { [ -f "$TMP/sweep/results.csv" ] && tail -n +2 "$TMP/sweep/results.csv" | wc -l || echo 0; }
"${MPIRUN[@]}" -np 3 "$NS" run "$TMP/spec.json" >"$TMP/run1.out" 2>&1 &
mpirun_pid=$!
rank2=""
find_rank2() {  # rank 2 among mpirun's children, once the sweep has written a row
  rank2=$(mpi_rank_pid "$mpirun_pid" 2)
  [ -n "$rank2" ] && [ "$(rows)" -ge 1 ]
}
wait_until 60 find_rank2 || { kill -KILL "$mpirun_pid"; fail "rank 2 or a first row never appeared: $(cat "$TMP/run1.out")"; }
kill -KILL "$rank2"
t0=$SECONDS
# The job must end by itself (no rank left waiting for the dead one), and soon.
wait_until 60 '! kill -0 "$mpirun_pid" 2>/dev/null' ||
  { kill -KILL "$mpirun_pid"; fail "mpirun still running 60 s (x the factor) after rank 2 was killed"; }
set +e; wait "$mpirun_pid"; got=$?; set -e
case $got in
  0|2|3|4|5) cat "$TMP/run1.out"; fail "mpirun ended with $got, one of neurosweep's own statuses" ;;
esac
kept=$(rows)
[ "$kept" -ge 1 ] && [ "$kept" -lt 12 ] || fail "expected 1..11 rows kept, found $kept"
echo "rank 2 killed: mpirun ended with status $got after $((SECONDS - t0)) s; $kept of 12 rows kept;" \
     "state.json: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["state"])' "$TMP/sweep/state.json")"
expect_exit 0 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/spec.json"
[ "$(rows)" -eq 12 ] || fail "expected 12 rows after the rerun, found $(rows)"
[ "$(csv_col "$TMP/sweep/results.csv" trial_id | sort -u | wc -l)" -eq 12 ] || fail "a trial has two rows"
grep -q '"state": "complete"' "$TMP/sweep/state.json" || fail "state.json not complete after the rerun"
echo "PASS rank_killed"
