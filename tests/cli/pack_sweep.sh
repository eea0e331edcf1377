#!/usr/bin/env bash
# Packing end to end (`pack: K`): plan shows the packs; a sweep with "pack": 3 on 2 ranks gives
# every trial its own row and files, with the metrics of the same sweep run one trial at a time;
# sweep.json names each rank's device; a drained pack resumes (each member from its resume.pt).
source "$(dirname "$0")/lib.sh"
spec() {  # spec FILE OUT PACK: 5 trials of one shape (only lr varies)
  cat >"$1" <<JSON
{"name": "pack", "family": "maskcnn",
 "data": {"kind": "simulated", "seed": 2, "images": 240, "size": 16, "neurons": 6, "repeats": 4},
 "fixed": {"channels": 4, "k1": 5, "pool_size": 2, "batch_size": 32},
 "training": {"eval_every": 4, "patience": 2, "max_iters_per_phase": 16, "phases": 2},
 "grid": {"lr": [0.002, 0.004, 0.006, 0.008, 0.01]},
 "metric": "val_ccnorm", "mode": "max", "out": "$2", "pack": $3}
JSON
}
spec "$TMP/packed.json" "$TMP/packed" 3
spec "$TMP/alone.json" "$TMP/alone" 1

expect_exit 0 "$NS" plan "$TMP/packed.json"
grep -q "packing up to 3 trials per worker: 5 of the 5 trial(s) to run share shapes in 1 group(s); 2 assignment(s) instead of 5" "$TMP/out" ||
  { cat "$TMP/out"; fail "plan does not show the packs"; }
expect_exit 0 "$NS" plan "$TMP/alone.json"
grep -q "packing off (\"pack\": 1): 5 trial(s) to run share shapes in 1 group(s)" "$TMP/out" ||
  { cat "$TMP/out"; fail "plan does not say packing is off"; }
expect_exit 0 "$NS" plan --pack 4 --json "$TMP/alone.json"
python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["packing"]; assert p=={"pack":4,"packable":5,"groups":1,"assignments":2}, p' "$TMP/out"

expect_exit 0 "${MPIRUN[@]}" -np 2 "$NS" run "$TMP/packed.json"
grep -q "packing up to 3 trials per worker" "$TMP/err" || { cat "$TMP/err"; fail "run does not say it packs"; }
expect_exit 0 "${MPIRUN[@]}" -np 2 "$NS" run "$TMP/alone.json"
python3 - "$TMP/packed" "$TMP/alone" <<'PY'
import csv, json, os, sys
packed, alone = (
    {r["trial_id"]: r for r in csv.DictReader(open(f"{d}/results.csv"))} for d in sys.argv[1:3])
assert len(packed) == 5 and packed.keys() == alone.keys(), (packed.keys(), alone.keys())
for tid, r in packed.items():
    a = alone[tid]
    assert r["status"] == "ok" and a["status"] == "ok", (r, a)
    assert r["iterations"] == a["iterations"], (tid, r["iterations"], a["iterations"])
    for m in ("val_loss", "val_ccnorm", "test_pearson"):
        x, y = float(r[m]), float(a[m])
        assert abs(x - y) <= 1e-3 * max(1.0, abs(y)), (tid, m, x, y)
    for f in ("model.pt", "curve.csv", "predictions.h5", "neurons.csv"):
        assert os.path.exists(f"{sys.argv[1]}/trials/{tid}/{f}"), (tid, f)
devices = json.load(open(f"{sys.argv[1]}/sweep.json"))["provenance"]["rank_devices"]
assert [d["rank"] for d in devices] == [0, 1], devices
assert all(d["name"] and d["device"] for d in devices), devices
print("ok: 5 packed trials match the unpacked sweep; rank 1 ran on", devices[1]["name"])
PY

# A drain while the pack trains: exit 3, each member keeps a resume.pt; the rerun finishes them.
spec "$TMP/drain.json" "$TMP/drain" 5
python3 - "$TMP/drain.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["training"].update({"max_iters_per_phase": 400, "patience": 50})  # long enough to be drained
json.dump(s, open(sys.argv[1], "w"))
PY
"$NS" run "$TMP/drain.json" >"$TMP/drain.log" 2>&1 &
pid=$!
trained() {  # a member has trained (a curve row after iteration 0)
  compgen -G "$TMP/drain/trials/*/curve.csv" >/dev/null &&
    [ "$(cat "$TMP"/drain/trials/*/curve.csv | grep -c '^[1-9]')" -gt 0 ]
}
wait_until 30 trained || true
kill -USR1 "$pid"
set +e; wait "$pid"; code=$?; set -e
[ "$code" -eq 3 ] || { cat "$TMP/drain.log"; fail "drained pack: exit $code, expected 3"; }
[ "$(ls "$TMP"/drain/trials/*/resume.pt | wc -l)" -eq 5 ] || { ls -R "$TMP/drain/trials"; fail "not every member saved resume.pt"; }
expect_exit 0 "$NS" run "$TMP/drain.json"
[ "$(csv_count "$TMP/drain/results.csv" status=ok)" -eq 5 ] || { cat "$TMP/drain/results.csv"; fail "the resumed pack did not finish"; }
echo "PASS pack_sweep"
