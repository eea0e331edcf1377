#!/usr/bin/env bash
# Replicates inside the searches (engine/replicates.hpp, issue 28), end to end with the
# quadratic family's learning curves: TPE + ASHA with 3 repeats per configuration.
#  - every configuration has its 3 replicates, at the same rung, with the same status;
#  - SIGKILLs at random moments of a one-rank run and resumes give exactly the rows and the
#    decisions (the configurations handed out, in order) of an uninterrupted run;
#  - a 2-worker MPI run completes with the same per-configuration shape, and so do a 2-worker and
#    a one-rank run that a budget of resource ends early (no replicate result left without a row);
#  - `plan` counts configurations x replicates (PBT's refusal: tests/engine/test_replicates.cpp).
source "$(dirname "$0")/lib.sh"
cat >"$TMP/spec.json" <<'J'
{"name": "rep", "family": "quadratic",
 "random": {"count": 12, "params": {"x": {"dist": "uniform", "low": -3, "high": 3},
                                    "y": {"dist": "uniform", "low": -3, "high": 3}}},
 "search": {"kind": "tpe", "startup": 4},
 "scheduler": {"kind": "asha", "resource": "steps", "min": 1, "max": 9, "eta": 3},
 "repeats": 3, "training": {"sleep_s": 4, "noise": 0.3},
 "metric": "score", "mode": "max", "seed": 7}
J
expect_exit 0 "$NS" plan "$TMP/spec.json"
grep -q "36 trials (12 configurations x 3 replicates: 3 repeat(s) x 1 fold(s))" "$TMP/out" ||
  { cat "$TMP/out"; fail "plan: no replicate count"; }
expect_exit 0 "$NS" run "$TMP/spec.json" --out "$TMP/ref"
RANDOM=17
kill_one_rank "$TMP/spec.json" "$TMP/kill" 5
[ "$HITS" -ge 3 ] || fail "only $HITS kills hit a running sweep"
expect_exit 0 "$NS" run "$TMP/spec.json" --out "$TMP/kill"
expect_exit 0 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/spec.json" --out "$TMP/mpi"
# A budget of resource stops new visits, never a visit's other replicates (a promotion's
# replicates all reach the rung, not one of them).
python3 - "$TMP/spec.json" "$TMP/budget.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); s["budget"] = {"resource": 40}
json.dump(s, open(sys.argv[2], "w"))
PY
expect_exit 0 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/budget.json" --out "$TMP/budget"
expect_exit 0 "$NS" run "$TMP/budget.json" --out "$TMP/budget1"  # one rank: run_serial
python3 - "$TMP" <<'PY'
import collections, csv, json, sys
tmp = sys.argv[1]
def rows(d):
    return list(csv.DictReader(open(f"{tmp}/{d}/results.csv")))
def takes(d):
    ev = [json.loads(l) for l in open(f"{tmp}/{d}/reports.jsonl")]
    return [e["config"] for e in ev if e.get("event") == "replicates_take"]
def shape(rs):
    by = collections.defaultdict(list)
    for r in rs:
        by[(r["x"], r["y"])].append(r)
    for key, g in by.items():
        assert sorted(int(r["repeat"]) for r in g) == [0, 1, 2], (key, g)
        assert len({r["rung"] for r in g}) == 1, ("replicates at different rungs", key, g)
        assert len({r["status"] for r in g}) == 1, ("replicates with different status", key, g)
        assert len({r["seed"] for r in g}) == 3
    return by
ref, got, mpi = rows("ref"), rows("kill"), rows("mpi")
for rs in (ref, got, mpi):
    assert len(rs) == 36 and len({r["trial_id"] for r in rs}) == 36, len(rs)
    shape(rs)
for d in ("budget", "budget1"):
    rs = rows(d)
    assert 0 < len(rs) < 36 and len(rs) % 3 == 0, (d, len(rs))
    shape(rs)
    # No replicate result in the journal without its row (the visit cut short by the budget).
    have = {r["trial_id"] for r in rs}
    ev = [json.loads(l) for l in open(f"{tmp}/{d}/reports.jsonl")]
    lost = {e["row"]["trial_id"] for e in ev if e.get("event") == "replicate_result"} - have
    assert not lost, (d, "replicate results without a row", lost)
# Resumed after kills: the same configurations handed out in the same order, the same rows.
# (A kill between a decision and its rows may hand a replicate out again: dedupe the takes.)
key = lambda r: (r["trial_id"], r["status"], r["rung"], r["score"])
assert sorted(map(key, got)) == sorted(map(key, ref)), "rows differ after kills"
assert takes("kill") == takes("ref"), (takes("kill"), takes("ref"))
# The configuration's value is the mean: the best configuration ranks by it.
by = shape(ref)
means = {k: sum(float(r["score"]) for r in g) / 3 for k, g in by.items() if g[0]["status"] == "ok"}
print(f"ok: {len(got)} rows after kills as uninterrupted; {len(means)} configuration(s) trained "
      f"to the end, best mean {max(means.values()):.3f}; MPI run {len(mpi)} rows")
PY
