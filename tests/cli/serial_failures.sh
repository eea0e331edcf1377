#!/usr/bin/env bash
# One rank (`neurosweep run` without mpirun: rank 0 trains alone) and five bad configurations:
# five failed rows and a complete sweep (exit 0). The unhealthy-rank breaker is for a device
# that fails where other ranks succeed; with one rank there is nothing to compare with, so it
# never takes the rank out (it used to: exit 3, "rank 0 was taken out as unhealthy").
source "$(dirname "$0")/lib.sh"
cat >"$TMP/spec.json" <<JSON
{"family": "quadratic", "grid": {"x": [0.0, 1.0, 2.0, 3.0, 4.0]},
 "training": {"fail_prob": 1.0}, "metric": "score", "mode": "max", "out": "$TMP/sweep"}
JSON
expect_exit 0 "$NS" run "$TMP/spec.json" --unhealthy-after 5
if grep -q "taken out" "$TMP/err"; then cat "$TMP/err"; fail "a rank was taken out"; fi
python3 - "$TMP/sweep" <<'PY'
import csv, json, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(f"{out}/results.csv", newline="")))
assert len(rows) == 5, rows
assert all(r["status"] == "failed" and r["error"] == "induced failure (fail_prob)" for r in rows), rows
state = json.load(open(f"{out}/state.json"))
assert state["state"] == "complete" and state["failed"] == 5 and state["unhealthy_ranks"] == [], state
print("ok: 5 failed rows, complete, no rank taken out")
PY
# Also: a rerun with nothing left to do keeps the sweep's makespan_s (earlier runs' sum) and
# says its own, 0, as run_makespan_s (it used to overwrite makespan_s with 0).
before=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["makespan_s"])' "$TMP/sweep/state.json")
expect_exit 0 "$NS" run "$TMP/spec.json"
python3 - "$TMP/sweep/state.json" "$before" <<'PY'
import json, sys
s, before = json.load(open(sys.argv[1])), float(sys.argv[2])
assert before > 0, before
assert s["makespan_s"] == before and s["run_makespan_s"] == 0 and s["state"] == "complete", s
print(f"ok: the rerun kept makespan_s {before}")
PY
echo "PASS serial_failures"
