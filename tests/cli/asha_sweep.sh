#!/usr/bin/env bash
# ASHA end to end on the quadratic family's learning curves (27 configurations, rungs at 1, 3,
# 9, 27 steps, eta 3):
#  - synchronous successive halving gives the same trials, decisions and metrics on 1, 2 and 4
#    ranks;
#  - the asynchronous promotion variant on 3 ranks gives every trial one row, and the trials
#    that reach each rung are the top of the rung below;
#  - a sweep killed (SIGKILL) at random moments and rerun until it completes ends with the rows
#    of the uninterrupted run (nothing lost, nothing run twice past a rung).
source "$(dirname "$0")/lib.sh"
spec() {  # spec FILE OUT SYNCHRONOUS SLEEP
  cat >"$1" <<JSON
{"name": "asha", "family": "quadratic",
 "grid": {"x": [-2.0, -1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0], "k": [0, 1, 2]},
 "training": {"noise": 0.05, "sleep_s": $4},
 "scheduler": {"kind": "asha", "resource": "steps", "min": 1, "max": 27, "eta": 3,
               "synchronous": $3},
 "metric": "score", "mode": "max", "out": "$2"}
JSON
}
rows() {  # rows DIR: "id status rung resource score" per trial, sorted by id
  csv_col "$1/results.csv" trial_id,status,rung,resource,score | LC_ALL=C sort
}
for np in 1 2 4; do
  spec "$TMP/s$np.json" "$TMP/s$np" true 0
  expect_exit 0 "${MPIRUN[@]}" -np "$np" "$NS" run "$TMP/s$np.json"
  rows "$TMP/s$np" >"$TMP/s$np.rows"
done
[ "$(wc -l <"$TMP/s1.rows")" -eq 27 ] || { cat "$TMP/s1.rows"; fail "not 27 rows"; }
cmp "$TMP/s1.rows" "$TMP/s2.rows" || fail "synchronous ASHA differs between 1 and 2 ranks"
cmp "$TMP/s1.rows" "$TMP/s4.rows" || fail "synchronous ASHA differs between 1 and 4 ranks"
# Successive halving by hand: 27 -> 9 -> 3 -> 1 reach rungs 1, 2, 3; one trial finishes.
python3 - "$TMP/s1.rows" <<'PY'
import collections, sys
rows = [l.split() for l in open(sys.argv[1])]
rung = collections.Counter(int(float(r[2])) for r in rows)
status = collections.Counter(r[1] for r in rows)
assert rung == {0: 18, 1: 6, 2: 2, 3: 1}, rung
assert status == {"stopped": 26, "ok": 1}, status
print("ok: synchronous SHA, same on 1/2/4 ranks; trials ending at rungs 0..3:", dict(sorted(rung.items())))
PY

spec "$TMP/a.json" "$TMP/a" false 0
expect_exit 0 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/a.json"
python3 - "$TMP/a" <<'PY'
import csv, json, sys
d = sys.argv[1]
rows = list(csv.DictReader(open(f"{d}/results.csv")))
assert len(rows) == 27 and len({r["trial_id"] for r in rows}) == 27, len(rows)
events = [json.loads(l) for l in open(f"{d}/reports.jsonl")]
# Every promotion out of rung k went to a trial among the top floor(n/3) of rung k's values
# recorded at that moment (max: higher is better).
at = {}
for e in events:
    if e["event"] == "rung" and e["decision"] == "pause":
        at.setdefault(e["rung"], {})[e["trial"]] = e["value"]
    if e["event"] == "start" and e["rung"] > 0:
        k = e["rung"] - 1
        ranked = sorted(at[k].items(), key=lambda kv: -kv[1])
        top = [t for t, _ in ranked[: len(ranked) // 3]]
        assert e["trial"] in top, (e, ranked)
print("ok: asynchronous ASHA on 3 ranks,", len(rows), "rows; every promotion from the top third")
PY

# Kills at random moments (SIGKILL: no drain, no checkpoint but the rungs'), then reruns; the
# reference is the same spec run without a kill (81 steps of 50 ms over 2 workers).
spec "$TMP/ref.json" "$TMP/ref" true 5
expect_exit 0 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/ref.json"
rows "$TMP/ref" >"$TMP/ref.rows"
spec "$TMP/k.json" "$TMP/k" true 5
for i in 1 2 3; do
  "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/k.json" >"$TMP/k$i.log" 2>&1 &
  pid=$!
  sleep "$(python3 -c "import random; print(round(random.uniform(0.5, 2.5), 2))")"
  kill -KILL "$pid" 2>/dev/null || true
  pkill -KILL -f "neurosweep run $TMP/k.json" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ "$i" -eq 1 ]; then  # the first kill came mid-sweep: not every trial has its row yet
    n=$( [ -f "$TMP/k/results.csv" ] && tail -n +2 "$TMP/k/results.csv" | wc -l || echo 0)
    [ "$n" -lt 27 ] || fail "the first kill came after the sweep ended ($n rows)"
  fi
done
expect_exit 0 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/k.json"
rows "$TMP/k" >"$TMP/k.rows"
cmp "$TMP/ref.rows" "$TMP/k.rows" || { diff "$TMP/ref.rows" "$TMP/k.rows"; fail "the killed and resumed sweep differs from the uninterrupted one"; }
# No trial trained past a rung twice: one "start" per (trial, rung) except the reruns of a
# trial that was running at a kill, which restart where its last rung left it.
python3 - "$TMP/k" <<'PY'
import collections, json, sys
ev = [json.loads(l) for l in open(f"{sys.argv[1]}/reports.jsonl") if l.strip()]
paused = collections.Counter((e["trial"], e["rung"]) for e in ev if e["event"] == "rung" and e["decision"] == "pause")
assert all(n == 1 for n in paused.values()), [k for k, n in paused.items() if n > 1]
print("ok: killed 3 times and resumed; rows equal the uninterrupted run; every rung recorded once")
PY
# Hyperband (4 brackets over the 27 configurations) and the median stopping rule, on 3 ranks.
python3 - "$TMP/a.json" "$TMP/h.json" "$TMP/h" "$TMP/md.json" "$TMP/md" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["scheduler"] = {"kind": "hyperband", "resource": "steps", "min": 1, "max": 27, "eta": 3}
s["out"] = sys.argv[3]
json.dump(s, open(sys.argv[2], "w"))
s["scheduler"] = {"kind": "median", "resource": "steps", "min": 3, "max": 27, "every": 3, "min_samples": 3}
s["out"] = sys.argv[5]
json.dump(s, open(sys.argv[4], "w"))
PY
expect_exit 0 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/h.json"
for b in "bracket 3: 15 configurations, rungs at 1, 3, 9, 27" "bracket 0: 2 configurations, rungs at 27"; do
  grep -q "Hyperband $b steps" "$TMP/err" || { cat "$TMP/err"; fail "hyperband: no '$b'"; }
done
expect_exit 0 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/md.json"
python3 - "$TMP/h" "$TMP/md" <<'PY'
import collections, csv, sys
h = list(csv.DictReader(open(f"{sys.argv[1]}/results.csv")))
assert len(h) == 27, len(h)
ok = [r for r in h if r["status"] == "ok"]
assert len(ok) >= 2 and all(r["resource"] == "27" for r in ok), [(r["status"], r["resource"]) for r in h]
m = list(csv.DictReader(open(f"{sys.argv[2]}/results.csv")))
st = collections.Counter(r["status"] for r in m)
assert len(m) == 27 and st["ok"] >= 3 and st["stopped"] >= 1, st
print("ok: hyperband", collections.Counter(r["status"] for r in h), "; median", st)
PY

# maskcnn under ASHA (resource: iterations, checked at evaluations): 9 configurations, rungs at
# 10 and 30 iterations; synchronous, so exactly the top 3 go on to 30, resuming from the
# checkpoints they paused with.
cat >"$TMP/m.json" <<JSON
{"family": "maskcnn",
 "data": {"kind": "simulated", "seed": 2, "images": 240, "size": 16, "neurons": 6, "repeats": 4},
 "fixed": {"channels": 4, "k1": 5, "pool_size": 2, "batch_size": 32},
 "training": {"eval_every": 10, "patience": 100, "max_iters_per_phase": 100, "phases": 1},
 "grid": {"lr": [0.001, 0.003, 0.01], "readout_scale": [0.001, 0.01, 0.1]},
 "scheduler": {"kind": "asha", "resource": "iterations", "min": 10, "max": 30, "eta": 3,
               "synchronous": true},
 "metric": "val_ccnorm", "mode": "max", "out": "$TMP/m"}
JSON
expect_exit 0 "$NS" plan "$TMP/m.json"
grep -q "rungs at 10, 30 iterations; trials reaching each: 9, 3" "$TMP/out" || { cat "$TMP/out"; fail "plan shows no rungs"; }
expect_exit 0 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/m.json"
python3 - "$TMP/m" <<'PY'
import collections, csv, sys
rows = list(csv.DictReader(open(f"{sys.argv[1]}/results.csv")))
assert len(rows) == 9, len(rows)
st = collections.Counter((r["status"], r["rung"], r["iterations"]) for r in rows)
assert st == {("stopped", "0", "10"): 6, ("ok", "1", "30"): 3}, st
print("ok: maskcnn under ASHA:", dict(st))
PY
echo "PASS asha_sweep"
