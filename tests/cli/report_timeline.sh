#!/usr/bin/env bash
# The timeline's utilization equals what state.json and the rows imply (issue 29). A quadratic
# grid whose trials sleep runs on 3 ranks (2 workers), then again with the grid grown (a second
# run into the directory). From results.csv and state.json alone, python checks: every row has
# started <= ended; per rank no two rows overlap; every row lies within its run's started/ended;
# and sum(ended - started) / sum over runs of (workers x span) is the utilization `report` prints
# (in [0, 1]), the first run's alone too. The page's timeline has one bar per row. A results.csv
# written before the times (tests/data/resume_v0) reports that it has none.
source "$(dirname "$0")/lib.sh"
cat >"$TMP/q.json" <<JSON
{"name": "timeline", "family": "quadratic", "grid": {"x": [0, 1, 2, 3], "y": [0, 1]},
 "training": {"sleep_s": 0.3}, "metric": "score", "mode": "max", "out": "$TMP/sweep"}
JSON
expect_exit 0 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/q.json"
expect_exit 0 "$NS" report "$TMP/sweep"
cp "$TMP/out" "$TMP/report1.txt"
check() {  # check REPORT RUNS: the report's utilization against results.csv and state.json
  python3 - "$TMP/sweep" "$1" "$2" <<'PY' || fail "timeline check ($1)"
import csv, json, re, sys
d, report, nruns = sys.argv[1], open(sys.argv[2]).read(), int(sys.argv[3])
rows = list(csv.DictReader(open(d + "/results.csv")))
state = json.load(open(d + "/state.json"))
runs = state["runs"]
assert len(runs) == nruns, runs
assert state["workers"] == 2 and state["started"] == runs[-1]["started"], state
assert state["ended"] == runs[-1]["ended"], state
for r in rows:
    r["s"], r["e"] = float(r["started"]), float(r["ended"])
    assert r["s"] <= r["e"], r
    assert r["rank"] in ("1", "2"), r["rank"]
by_rank = {}
for r in rows:
    by_rank.setdefault(r["rank"], []).append(r)
for rank, rs in by_rank.items():
    rs.sort(key=lambda r: r["s"])
    for a, b in zip(rs, rs[1:]):
        assert b["s"] >= a["e"], ("overlap on rank", rank, a["trial_id"], b["trial_id"])
busy = cap = 0.0
first = None
for k, run in enumerate(runs):
    mine = [r for r in rows if run["started"] <= r["s"] and (k + 1 == len(runs) or r["s"] < runs[k + 1]["started"])]
    for r in mine:
        assert run["started"] <= r["s"] and r["e"] <= run["ended"], ("row outside its run", r["trial_id"], run)
    b = sum(r["e"] - r["s"] for r in mine)
    c = run["workers"] * (run["ended"] - run["started"])
    busy, cap = busy + b, cap + c
    if first is None:
        first = b / c
assert sum(len([r for r in rows if r["s"] >= run["started"]]) > 0 for run in runs) == len(runs)
util = busy / cap
assert 0 <= util <= 1, util
got = [float(x) / 100 for x in re.findall(r"utilization: ([0-9.]+)%", report)]
assert len(got) == 1, report
assert abs(got[0] - util) <= 0.0006, (got[0], util)
per_run = [float(x) / 100 for x in re.findall(r"run \d+: .* utilization ([0-9.]+)%", report)]
assert len(per_run) == nruns and abs(per_run[0] - first) <= 0.0006, (per_run, first)
print(f"utilization {util:.4f} over {nruns} run(s); report says {got[0]:.3f}")
PY
}
check "$TMP/report1.txt" 1

# A second run into the directory (the grid grown by one value: 2 new trials).
python3 - "$TMP/q.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["grid"]["x"].append(4)
json.dump(s, open(sys.argv[1], "w"))
PY
expect_exit 0 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/q.json"
expect_exit 0 "$NS" report "$TMP/sweep" --html "$TMP/page.html"
cp "$TMP/out" "$TMP/report2.txt"
check "$TMP/report2.txt" 2
# The page's data: one timeline bar per row, the utilization shown.
python3 - "$TMP/page.html" "$TMP/sweep/results.csv" <<'PY' || fail "the page's timeline"
import csv, html, json, re, sys
page = open(sys.argv[1]).read()
data = json.loads(re.search(r'<script type="application/json" id="ns-data">(.*?)</script>', page, re.S).group(1))
t = data["timeline"]
rows = list(csv.DictReader(open(sys.argv[2])))
assert len(t["segments"]) == len(rows) == 10, (len(t["segments"]), len(rows))
assert len(t["runs"]) == 2 and 0 < t["utilization"] <= 1, t["runs"]
assert 'id="timeline"' in page
PY

# Written before the times: no timeline, and the report says why.
cp -r "$SRC/tests/data/resume_v0/quadratic_v0" "$TMP/old"
expect_exit 0 "$NS" report "$TMP/old"
grep -q "no started/ended columns (written before this version)" "$TMP/out" ||
  { cat "$TMP/out"; fail "an old results.csv: the timeline does not say it has no times"; }
echo "report_timeline: ok"
