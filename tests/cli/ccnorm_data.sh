#!/usr/bin/env bash
# CCnorm and the data: a file whose neurons have fewer than 2 effective repeats is refused
# with CCnorm asked for (exit 2, results untouched); a sweep resumed across the change of CCnorm
# estimator warns once, lists the old rows in sweep.json, and `report` marks them.
source "$(dirname "$0")/lib.sh"
one_line() { [ "$(wc -l <"$TMP/err")" -eq 1 ] || { cat "$TMP/err"; fail "expected one line of error"; }; }

# 1. Most images keep one repeat: fine without CCnorm, refused with it.
"$NS" simulate --out "$TMP/sparse.h5" \
  --data '{"images":60,"size":8,"neurons":3,"repeats":2,"missing":0.8,"ccnorm":false}' >/dev/null
spec() {  # spec CCNORM OUT
  cat <<J
{"family": "maskcnn", "data": {"kind": "hdf5", "path": "$TMP/sparse.h5", "ccnorm": $1},
 "fixed": {"channels": 4, "k1": 3},
 "training": {"phases": 1, "max_iters_per_phase": 4, "eval_every": 2, "batch_size": 16},
 "grid": {"lr": [0.01]}, "metric": "val_pearson", "mode": "max", "out": "$2"}
J
}
spec false "$TMP/sparse_out" >"$TMP/off.json"
spec true "$TMP/sparse_out" >"$TMP/on.json"
"$NS" run "$TMP/off.json" 2>"$TMP/off.log" || { cat "$TMP/off.log"; fail "ccnorm false run"; }
sum=$(md5sum <"$TMP/sparse_out/results.csv")
expect_exit 2 "$NS" run "$TMP/on.json"; one_line
grep -q "sparse.h5: dataset \`trials\`: 3 of 3 neurons have fewer than 2 effective repeats" "$TMP/err" \
  || fail "effective repeats message: $(cat "$TMP/err")"
grep -q '"ccnorm": false' "$TMP/err" || fail "no hint: $(cat "$TMP/err")"
[ "$sum" = "$(md5sum <"$TMP/sparse_out/results.csv")" ] || fail "results.csv changed"
expect_exit 2 "$NS" plan "$TMP/on.json"
grep -q "fewer than 2 effective repeats" "$TMP/err" || fail "plan: $(cat "$TMP/err")"

# 2. A sweep from before the estimator was recorded: 2 rows, then resumed with one more trial.
cat >"$TMP/sim.json" <<'J'
{"family": "maskcnn",
 "data": {"kind": "simulated", "seed": 1, "images": 300, "size": 12, "neurons": 4, "repeats": 3},
 "fixed": {"channels": 4, "k1": 5},
 "training": {"phases": 1, "max_iters_per_phase": 6, "eval_every": 3, "batch_size": 32},
 "grid": {"lr": [0.003, 0.01]}, "metric": "val_ccnorm", "mode": "max"}
J
"$NS" run "$TMP/sim.json" --out "$TMP/old" 2>"$TMP/run1.log" || { cat "$TMP/run1.log"; fail "first run"; }
python3 - "$TMP/old/sweep.json" <<'PY'
import json, sys
p = sys.argv[1]
j = json.load(open(p))
assert "schoppe-eq29-two-way-anova" in j["metric_definitions"]["ccnorm"], j["metric_definitions"]
assert "rows_by_earlier_metric_definitions" not in j
del j["metric_definitions"]  # as the version before this one wrote it
json.dump(j, open(p, "w"), indent=2)
PY
sed 's/"lr": \[0.003, 0.01\]/"lr": [0.003, 0.01, 0.03]/' "$TMP/sim.json" >"$TMP/sim3.json"
"$NS" run "$TMP/sim3.json" --out "$TMP/old" 2>"$TMP/run2.log" || { cat "$TMP/run2.log"; fail "resume"; }
[ "$(grep -c 'scored with an earlier definition' "$TMP/run2.log")" -eq 1 ] || fail "no single warning: $(cat "$TMP/run2.log")"
grep -q "2 row(s) of results.csv were scored with an earlier definition (ccnorm is now" "$TMP/run2.log" \
  || fail "warning text: $(cat "$TMP/run2.log")"
check_listed() {
  python3 - "$TMP/old" <<'PY'
import csv, json, sys
d = sys.argv[1]
j = json.load(open(f"{d}/sweep.json"))
rows = list(csv.DictReader(open(f"{d}/results.csv")))
assert len(rows) == 3, len(rows)
old = j["rows_by_earlier_metric_definitions"]
assert len(old) == 1, old
assert "complete-subset" in old[0]["metric_definitions"]["ccnorm"], old
ids = old[0]["trial_ids"]
first_two = [r["trial_id"] for r in rows[:2]]
assert sorted(ids) == sorted(first_two), (ids, first_two)
PY
}
check_listed || fail "sweep.json does not list the 2 old rows"
# Resumed again: still those 2 rows, warned again, nothing added.
"$NS" run "$TMP/sim3.json" --out "$TMP/old" 2>"$TMP/run3.log" || { cat "$TMP/run3.log"; fail "second resume"; }
grep -q "2 row(s) of results.csv" "$TMP/run3.log" || fail "second resume: $(cat "$TMP/run3.log")"
check_listed || fail "second resume changed the list"
"$NS" report "$TMP/old" >"$TMP/report.txt" 2>&1 || { cat "$TMP/report.txt"; fail "report"; }
grep -q "2 trial(s) marked \* were scored with an earlier metric definition" "$TMP/report.txt" \
  || fail "report note: $(cat "$TMP/report.txt")"
# A fresh sweep warns about nothing.
"$NS" run "$TMP/sim.json" --out "$TMP/new" 2>"$TMP/new.log" || { cat "$TMP/new.log"; fail "fresh run"; }
! grep -q "earlier definition" "$TMP/new.log" || fail "a fresh sweep warned"
echo "ccnorm_data: ok"
