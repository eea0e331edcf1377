#!/usr/bin/env bash
# Issue 30: a run SIGKILLed mid-sweep leaves state.json "running"; the next run (3 ranks) takes
# the lock, warns that the previous run (host/pid from .lock, state.json's mtime) ended without
# writing its state, records "previous_run" in state.json and completes the sweep, every trial
# once. sweep.json's provenance.rank_devices gives each rank's host, device and threads. A rerun
# of the cleanly finished sweep does not warn and records no "previous_run".
source "$(dirname "$0")/lib.sh"
cat >"$TMP/spec.json" <<JSON
{"name": "killed", "family": "quadratic", "grid": {"x": [0, 1, 2, 3, 4, 5, 6, 7]},
 "training": {"sleep_s": 0.6}, "metric": "score", "mode": "max", "out": "$TMP/sweep"}
JSON
"$NS" run "$TMP/spec.json" >"$TMP/run1.out" 2>&1 &
pid=$!
wait_until 60 '[ -s "$TMP/sweep/results.csv" ] && [ "$(tail -n +2 "$TMP/sweep/results.csv" | wc -l)" -ge 1 ]' ||
  fail "the first run wrote no row: $(cat "$TMP/run1.out")"
kill -0 "$pid" 2>/dev/null || fail "the first run ended before the kill: $(cat "$TMP/run1.out")"
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
rows_before=$(csv_count "$TMP/sweep/results.csv")
[ "$rows_before" -lt 8 ] || fail "the first run finished all 8 trials before the kill"
python3 - "$TMP/sweep/state.json" <<'PY' || fail "state.json after the kill"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["state"] == "running", s
assert "previous_run" not in s, s
PY
holder="host=$(hostname),pid=$pid"
grep -qxF "$holder" "$TMP/sweep/.lock" || fail ".lock says $(cat "$TMP/sweep/.lock"), expected $holder"

# The rerun, on 3 ranks (2 workers): warns, records it, completes.
expect_exit 0 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/spec.json"
grep -F "ended without writing its state" "$TMP/err" | grep -qF "$holder" ||
  { cat "$TMP/err"; fail "no warning naming $holder"; }
grep -E "ended without writing its state.*last written at [0-9]{4}-[0-9]{2}-[0-9]{2}T" "$TMP/err" >/dev/null ||
  { cat "$TMP/err"; fail "the warning does not say when state.json was last written"; }
[ "$(csv_count "$TMP/sweep/results.csv")" -eq 8 ] || fail "expected 8 rows after the rerun"
[ "$(csv_col "$TMP/sweep/results.csv" trial_id | sort -u | wc -l)" -eq 8 ] || fail "a trial has two rows"
python3 - "$TMP/sweep" "$holder" "$(hostname)" <<'PY' || fail "state.json / sweep.json after the rerun"
import json, sys, time
d, holder, host = sys.argv[1:]
s = json.load(open(f"{d}/state.json"))
assert s["state"] == "complete", s
p = s["previous_run"]
assert p["ended"] == "without writing its state" and p["lock_holder"] == holder, p
assert 0 < time.time() - p["state_written"] < 3600, p
ranks = json.load(open(f"{d}/sweep.json"))["provenance"]["rank_devices"]
assert sorted(r["rank"] for r in ranks) == [0, 1, 2], ranks
for r in ranks:
    assert r["host"] == host and r["device"] == "cpu", r
    assert isinstance(r["threads"], int) and r["threads"] >= 1, r
    assert r["trains"] == (r["rank"] != 0), r
PY
echo "killed with $rows_before row(s); the rerun warned, recorded previous_run and completed"

# A rerun of the cleanly finished sweep: no warning, no previous_run.
expect_exit 0 "$NS" run "$TMP/spec.json"
grep -q "ended without writing its state" "$TMP/err" && { cat "$TMP/err"; fail "a clean rerun warned"; }
python3 - "$TMP/sweep/state.json" <<'PY' || fail "state.json after the clean rerun"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["state"] == "complete" and "previous_run" not in s, s
PY
echo "a rerun of the finished sweep did not warn"
