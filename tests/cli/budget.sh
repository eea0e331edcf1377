#!/usr/bin/env bash
# "budget": {"trial_seconds": X} with a large random count: no trial starts once the rows' wall
# seconds reach X; the sweep ends complete (exit 0), and a rerun starts nothing more. Under ASHA
# the trials paused at rungs then get their rows ("stopped").
source "$(dirname "$0")/lib.sh"
cat >"$TMP/spec.json" <<JSON
{"family": "quadratic", "training": {"sleep_s": 0.2},
 "random": {"count": 100000, "params": {"x": {"dist": "uniform", "low": -3, "high": 3}}},
 "budget": {"trial_seconds": 2},
 "metric": "score", "mode": "max", "out": "$TMP/b"}
JSON
expect_exit 0 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/spec.json"
grep -q "the budget's 2 trial-seconds are spent" "$TMP/err" || { cat "$TMP/err"; fail "no budget message"; }
python3 - "$TMP/b" <<'PY'
import csv, json, sys
rows = list(csv.DictReader(open(f"{sys.argv[1]}/results.csv")))
spent = sum(float(r["wall_s"]) for r in rows)
# The last trials started before the budget was reached finish: at most one more per worker.
assert 2 <= spent < 2 + 2 * 0.25, spent
state = json.load(open(f"{sys.argv[1]}/state.json"))
assert state["state"] == "complete" and "budget" in state["reason"], state
print(f"ok: {len(rows)} trials, {spent:.2f} trial-seconds of a 2 s budget")
PY
n=$(tail -n +2 "$TMP/b/results.csv" | wc -l)
expect_exit 0 "$NS" run "$TMP/spec.json"
[ "$(tail -n +2 "$TMP/b/results.csv" | wc -l)" -eq "$n" ] || fail "a rerun of a spent budget started trials"

python3 - "$TMP/spec.json" "$TMP/a.json" "$TMP/a" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["training"] = {"sleep_s": 2.0}  # 20 ms a step
s["scheduler"] = {"kind": "asha", "resource": "steps", "min": 1, "max": 27, "eta": 3}
s["out"] = sys.argv[3]
json.dump(s, open(sys.argv[2], "w"))
PY
expect_exit 0 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/a.json"
python3 - "$TMP/a" <<'PY'
import collections, csv, json, sys
rows = list(csv.DictReader(open(f"{sys.argv[1]}/results.csv")))
ids = [r["trial_id"] for r in rows]
assert len(ids) == len(set(ids)) and len(rows) < 100000, len(rows)
assert all(r["status"] in ("ok", "stopped") for r in rows), collections.Counter(r["status"] for r in rows)
assert json.load(open(f"{sys.argv[1]}/state.json"))["state"] == "complete"
print("ok: ASHA under a budget:", collections.Counter(r["status"] for r in rows))
PY
echo "PASS budget"
