#!/usr/bin/env bash
# A 200-trial quadratic sweep under -np 1, 2 and 4 gives the same ids and metric values, 200
# unique rows each, and best.json names the known optimum (x=1, y=-2, k=7).
source "$(dirname "$0")/lib.sh"
spec=$SRC/examples/quadratic_grid.json
for np in 1 2 4; do
  "${MPIRUN[@]}" -np $np "$NS" run "$spec" --out "$TMP/np$np" 2>"$TMP/log$np" || { cat "$TMP/log$np"; fail "np $np"; }
done
python3 - "$TMP" <<'PY'
import csv, json, sys
tmp = sys.argv[1]
sets = {}
for np in (1, 2, 4):
    rows = list(csv.DictReader(open(f"{tmp}/np{np}/results.csv", newline="")))
    assert len(rows) == 200, (np, len(rows))
    ids = [r["trial_id"] for r in rows]
    assert len(set(ids)) == 200, np
    sets[np] = sorted((r["trial_id"], r["score"], r["status"]) for r in rows)
    best = json.load(open(f"{tmp}/np{np}/best.json"))
    p = best["params"]
    assert (p["x"], p["y"], p["k"]) == (1.0, -2.0, 7), best
    if np > 1:
        assert {r["rank"] for r in rows} == {str(i) for i in range(1, np)}, np
assert sets[1] == sets[2] == sets[4]
print("ok: 200 rows, identical ids and scores for np 1, 2, 4; best", best["trial_id"])
PY
