#!/usr/bin/env bash
# Issue 30: a worker rank that stops answering mid-trial (SIGSTOP: a hung node, a process the
# kernel stopped) while Open MPI sees nothing wrong. With `run --rank-timeout 4` (x NS_TEST_TIME_SCALE) the
# coordinator hears no heartbeat from it for 4 s, takes it out, and its trial goes back to pending: the other
# rank resumes it from its checkpoint (--checkpoint-every), and its curve and row equal an
# uninterrupted run's. Every trial has one row, state.json is complete and names the silent rank,
# and rank 0 ends the job with MPI_Abort(0) (a stopped rank could never finish MPI_Finalize), so
# mpirun exits 0 and no process of the job is left.
source "$(dirname "$0")/lib.sh"
cat >"$TMP/spec.json" <<J
{"family": "maskcnn",
 "data": {"kind": "simulated", "seed": 1, "images": 1200, "size": 20, "neurons": 8, "repeats": 3},
 "fixed": {"k1": 5},
 "grid": {"channels": [6, 8]},
 "training": {"phases": 1, "max_iters_per_phase": 600, "eval_every": 10, "patience": 1000, "batch_size": 32},
 "metric": "val_ccnorm", "mode": "max", "out": "$TMP/sweep"}
J
# The reference: both trials uninterrupted, one rank (about 5 s each on an idle core), one
# thread as each rank of the sweep below (the thread count changes the sums' rounding).
expect_exit 0 "$NS" run "$TMP/spec.json" --out "$TMP/ref" --threads 1

"${MPIRUN[@]}" -np 3 "$NS" run "$TMP/spec.json" --rank-timeout "$(scaled 4)" --checkpoint-every 0.2 --threads 1 \
  >"$TMP/run.out" 2>&1 &
mpirun_pid=$!
rank2=""
find_rank2() {  # rank 2 among mpirun's children, once it has checkpointed its trial
  rank2=$(mpi_rank_pid "$mpirun_pid" 2)
  # Two trials, two workers: each runs one; both have checkpointed once both resume.pt exist.
  [ -n "$rank2" ] && [ "$(ls "$TMP"/sweep/trials/*/resume.pt 2>/dev/null | wc -l)" -eq 2 ]
}
cleanup_job() { [ -n "$rank2" ] && kill -CONT "$rank2" 2>/dev/null; kill -KILL "$mpirun_pid" 2>/dev/null || true; }
wait_until 60 find_rank2 || { cleanup_job; cat "$TMP/run.out"; fail "rank 2 never started a trial"; }
kill -STOP "$rank2"
t0=$SECONDS
wait_until 120 '! kill -0 "$mpirun_pid" 2>/dev/null' ||
  { cleanup_job; cat "$TMP/run.out"; fail "the job did not end 120 s (x the factor) after rank 2 stopped"; }
set +e; wait "$mpirun_pid"; got=$?; set -e
cat "$TMP/run.out" | grep -E "sent nothing|MPI_Abort|resuming at|silent" || true
[ "$got" -eq 0 ] || { cat "$TMP/run.out"; fail "mpirun ended with $got, expected 0 (sweep complete)"; }
# The runtime kills the stopped process as the job ends (a moment after mpirun returns).
gone2() { ! kill -0 "$rank2" 2>/dev/null || [ "$(awk '{print $3}' "/proc/$rank2/stat" 2>/dev/null)" = Z ]; }
wait_until 20 gone2 || { kill -KILL "$rank2"; fail "the stopped rank 2 outlived the job"; }
grep -Eq "rank 2 \(.*\) sent nothing for [0-9]+ s while it ran trial" "$TMP/run.out" ||
  fail "no warning that rank 2 was taken out"
grep -Eq "neurosweep\[1\] trial .*: resuming at iteration [1-9][0-9]* " "$TMP/run.out" ||
  fail "the other rank did not resume the trial from its checkpoint"
[ "$(csv_count "$TMP/sweep/results.csv")" -eq 2 ] || fail "expected 2 rows"
[ "$(csv_col "$TMP/sweep/results.csv" trial_id | sort -u | wc -l)" -eq 2 ] || fail "a trial has two rows"
[ "$(csv_col "$TMP/sweep/results.csv" status | sort -u)" = ok ] || fail "a row is not ok"
python3 - "$TMP" <<'PY'
import csv, json, sys
tmp = sys.argv[1]
state = json.load(open(f"{tmp}/sweep/state.json"))
assert state["state"] == "complete", state["state"]
silent = state["silent_ranks"]
assert len(silent) == 1 and silent[0]["rank"] == 2 and not silent[0]["returned"], silent
lost = silent[0]["trials"]
ref = {r["trial_id"]: r for r in csv.DictReader(open(f"{tmp}/ref/results.csv"))}
got = {r["trial_id"]: r for r in csv.DictReader(open(f"{tmp}/sweep/results.csv"))}
assert set(ref) == set(got)
for t in lost:
    assert got[t]["rank"] == "1", ("the lost trial was not finished by rank 1", got[t]["rank"])
for t, a in ref.items():
    b = got[t]
    for k in ("val_loss", "val_ccnorm", "test_ccnorm", "best_iteration", "iterations"):
        assert abs(float(a[k]) - float(b[k])) <= 1e-6 * max(1, abs(float(a[k]))), (t, k, a[k], b[k])
print(f"ok: rank 2 taken out after {silent[0]['silent_s']:.1f} s silent; trial(s) {lost} resumed by rank 1; rows equal the uninterrupted run's")
PY
for d in "$TMP"/ref/trials/*/; do
  cmp "$d/curve.csv" "$TMP/sweep/trials/$(basename "$d")/curve.csv" || fail "trial $(basename "$d"): the curve differs from the uninterrupted run's"
done
echo "rank 2 stopped: the job ended by itself, status $got, $((SECONDS - t0)) s after the stop"
echo "PASS rank_silent"
