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
# The last trials started before the budget was reached finish: at most one more per worker
# (2 workers), each as long as the longest row (0.2 s of sleep, longer on a loaded machine).
longest = max(float(r["wall_s"]) for r in rows)
assert 2 <= spent < 2 + 2 * longest, (spent, longest)
state = json.load(open(f"{sys.argv[1]}/state.json"))
assert state["state"] == "complete" and "budget" in state["reason"], state
print(f"ok: {len(rows)} trials, {spent:.2f} trial-seconds of a 2 s budget")
PY
n=$(csv_count "$TMP/b/results.csv")
expect_exit 0 "$NS" run "$TMP/spec.json"
[ "$(csv_count "$TMP/b/results.csv")" -eq "$n" ] || fail "a rerun of a spent budget started trials"

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
# "budget": {"resource": N}: the scheduler's resource (steps here) given to trials, counted as
# running trials' next rung and ended trials' rung; it ends the sweep, and a rerun (rebuilt from
# reports.jsonl) starts nothing more.
python3 - "$TMP/a.json" "$TMP/r.json" "$TMP/r" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["budget"] = {"resource": 60}
s["out"] = sys.argv[3]
json.dump(s, open(sys.argv[2], "w"))
PY
expect_exit 0 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/r.json"
grep -q "of the budget's 60 resource units" "$TMP/err" || { cat "$TMP/err"; fail "no resource budget message"; }
python3 - "$TMP/r" <<'PY'
import collections, csv, json, sys
rows = list(csv.DictReader(open(f"{sys.argv[1]}/results.csv")))
used = sum(float(r["resource"]) for r in rows)
# No visit starts once 60 are given; the last one started before may add up to 27 - 9 = 18 (a
# promotion to the top rung), and two workers each start at most one.
assert 60 <= used <= 60 + 2 * 18, used
assert all(r["status"] in ("ok", "stopped") for r in rows), collections.Counter(r["status"] for r in rows)
state = json.load(open(f"{sys.argv[1]}/state.json"))
assert state["state"] == "complete" and "resource" in state["reason"], state
print(f"ok: {len(rows)} trials, {used:.0f} steps of a 60-step budget")
PY
n=$(csv_count "$TMP/r/results.csv")
expect_exit 0 "$NS" run "$TMP/r.json"
grep -q "budget: 60 steps, [0-9]* given by earlier runs" "$TMP/err" || { cat "$TMP/err"; fail "the rerun did not count the earlier resource"; }
[ "$(csv_count "$TMP/r/results.csv")" -eq "$n" ] || fail "a rerun of a spent resource budget started trials"
# A resource budget without a scheduler has no unit: a clear error, exit 2.
python3 - "$TMP/spec.json" "$TMP/bad.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["budget"] = {"resource": 10}
json.dump(s, open(sys.argv[2], "w"))
PY
expect_exit 2 "$NS" run "$TMP/bad.json"
grep -q 'budget.resource.*needs a "scheduler" block' "$TMP/err" || { cat "$TMP/err"; fail "no message for a resource budget without a scheduler"; }
echo "PASS budget"
