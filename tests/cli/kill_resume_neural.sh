#!/usr/bin/env bash
# The kill/resume test with the neural family: SIGKILL the whole mpirun job at 4 moments while
# maskcnn trials train (tiny simulated data), resume each time, and compare the final trial ids
# with an uninterrupted run: same set, none twice, no malformed row, every metric finite.
# A kill counts as a hit when a trial that wrote its files (config.json, curve.csv) during that
# run has no row yet, i.e. it was training when the job died (lib.sh: kill_while_training); at
# least 3 of the 4 must hit. Trials of 2 x 400 iterations: with 2 x 120 a fast machine finished
# the 8 trials by the third kill (2 of 4 hit).
source "$(dirname "$0")/lib.sh"
cat >"$TMP/spec.json" <<'J'
{"family": "maskcnn",
 "data": {"kind": "simulated", "seed": 1, "images": 1200, "size": 20, "neurons": 8, "repeats": 3},
 "fixed": {"channels": 8, "k1": 5},
 "training": {"phases": 2, "max_iters_per_phase": 400, "eval_every": 10, "patience": 100, "batch_size": 64},
 "grid": {"lr": [0.003, 0.01], "act": ["softplus", "relu"], "readout_scale": [0.001, 0.01]},
 "metric": "val_ccnorm", "mode": "max"}
J
"${MPIRUN[@]}" -np 3 "$NS" run "$TMP/spec.json" --out "$TMP/ref" 2>"$TMP/ref.log" || { cat "$TMP/ref.log"; fail "reference run"; }
RANDOM=777
kill_while_training "$TMP/spec.json" "$TMP/kill" 4
hits=$HITS
[ "$hits" -ge 3 ] || fail "only $hits of 4 kills hit a running trial (need 3)"
echo "$hits of 4 kills hit a running trial"
"${MPIRUN[@]}" -np 3 "$NS" run "$TMP/spec.json" --out "$TMP/kill" 2>"$TMP/final.log" || { cat "$TMP/final.log"; fail "final resume"; }
python3 - "$TMP" <<'PY'
import csv, math, sys
tmp = sys.argv[1]
def load(d):
    text = open(f"{tmp}/{d}/results.csv", newline="").read()
    assert text.endswith("\n")
    rows = list(csv.reader(text.splitlines(keepends=True)))
    h = rows[0]
    for r in rows[1:]:
        assert len(r) == len(h), r
        assert r[1] == "ok", r
        assert math.isfinite(float(r[h.index("test_ccnorm")])), r
    return [r[0] for r in rows[1:]]
ref, got = load("ref"), load("kill")
assert len(got) == len(set(got)) == 8
assert set(got) == set(ref)
print("ok: 8 maskcnn trials after 4 kill points, same ids as the uninterrupted run")
PY
