#!/usr/bin/env bash
# A broken rank (every trial on rank 2 fails at once, as after a sticky CUDA error) is taken out
# of a 4-rank sweep after --unhealthy-after failures; with retries its failures run on the other
# ranks, so every trial ends ok; the summary and state.json name the rank and its host.
source "$(dirname "$0")/lib.sh"
cat >"$TMP/spec.json" <<JSON
{"family": "quadratic", "grid": {"x": [0.0, 1.0, 2.0, 3.0], "y": [-2.0, 0.0], "k": [0, 1, 2]},
 "training": {"sleep_s": 0.02}, "retries": 1, "metric": "score", "mode": "max",
 "out": "$TMP/out"}
JSON
NS_QUADRATIC_FAIL_RANK=2 "${MPIRUN[@]}" -x NS_QUADRATIC_FAIL_RANK -np 4 "$NS" run "$TMP/spec.json" \
  --unhealthy-after 3 2>"$TMP/log" || { cat "$TMP/log"; fail "the sweep did not complete"; }
grep -q "rank 2 on .* was taken out of the sweep: its last 3 trials failed" "$TMP/log" ||
  { cat "$TMP/log"; fail "the summary does not name rank 2"; }
python3 - "$TMP/out" <<'PY'
import csv, json, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(f"{out}/results.csv", newline="")))
assert len(rows) == 24, len(rows)
assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows if r["status"] != "ok"]
assert all(r["rank"] != "2" for r in rows), "a row from the broken rank"
state = json.load(open(f"{out}/state.json"))
assert state["state"] == "complete", state
u = state["unhealthy_ranks"]
assert len(u) == 1 and u[0]["rank"] == 2 and u[0]["failures"] == 3 and u[0]["host"], u
assert "rank 2 is broken" in u[0]["last_error"], u
print("ok: 24 rows, all ok, none from rank 2; rank", u[0]["rank"], "on", u[0]["host"], "taken out")
PY
# Without retries the streak's failures are rows, and the sweep still ends without rank 2.
rm -rf "$TMP/out"
sed -i 's/"retries": 1/"retries": 0/' "$TMP/spec.json"
NS_QUADRATIC_FAIL_RANK=2 "${MPIRUN[@]}" -x NS_QUADRATIC_FAIL_RANK -np 4 "$NS" run "$TMP/spec.json" \
  --unhealthy-after 3 2>"$TMP/log" || { cat "$TMP/log"; fail "the sweep without retries did not complete"; }
python3 - "$TMP/out" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(f"{sys.argv[1]}/results.csv", newline="")))
failed = [r for r in rows if r["status"] != "ok"]
assert len(rows) == 24 and len(failed) == 3 and all(r["rank"] == "2" for r in failed), failed
print("ok: without retries the 3 failures of rank 2 are rows, the other 21 ran elsewhere")
PY
echo "PASS unhealthy_rank"
