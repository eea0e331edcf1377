#!/usr/bin/env bash
# The kill/resume test with the neural family: SIGKILL the whole mpirun job at 4 moments while
# maskcnn trials train (tiny simulated data), resume each time, and compare the final trial ids
# with an uninterrupted run: same set, none twice, no malformed row, every metric finite.
# A kill counts as a hit when a trial that wrote its files (config.json, curve.csv) during that
# run has no row yet, i.e. it was training when the job died; at least 3 of the 4 must hit.
source "$(dirname "$0")/lib.sh"
cat >"$TMP/spec.json" <<'J'
{"family": "maskcnn",
 "data": {"kind": "simulated", "seed": 1, "images": 1200, "size": 20, "neurons": 8, "repeats": 3},
 "fixed": {"channels": 8, "k1": 5},
 "training": {"phases": 2, "max_iters_per_phase": 120, "eval_every": 10, "patience": 100, "batch_size": 64},
 "grid": {"lr": [0.003, 0.01], "act": ["softplus", "relu"], "readout_scale": [0.001, 0.01]},
 "metric": "val_ccnorm", "mode": "max"}
J
"${MPIRUN[@]}" -np 3 "$NS" run "$TMP/spec.json" --out "$TMP/ref" 2>"$TMP/ref.log" || { cat "$TMP/ref.log"; fail "reference run"; }
rows() { [ -f "$TMP/kill/results.csv" ] && tail -n +2 "$TMP/kill/results.csv" | wc -l || echo 0; }
# Trials that wrote a file since the stamp and have no row: those the kill interrupted.
running_at_kill() {
  [ -d "$TMP/kill/trials" ] || return 0
  local done_ids=""
  [ -f "$TMP/kill/results.csv" ] && done_ids=$(tail -n +2 "$TMP/kill/results.csv" | cut -d, -f1)
  find "$TMP/kill/trials" -mindepth 2 -type f -newer "$TMP/stamp" -printf '%h\n' |
    xargs -r -n1 basename | sort -u |
    while read -r id; do grep -qxF -- "$id" <<<"$done_ids" || echo "$id"; done
}
RANDOM=777
hits=0
for i in 1 2 3 4; do
  touch "$TMP/stamp"
  sleep 0.01  # files written from now on are newer than the stamp
  setsid "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/spec.json" --out "$TMP/kill" >/dev/null 2>&1 &
  pid=$!
  before=$(rows)
  # The first kill comes after a row was written (rows must survive a kill); every kill comes
  # while a trial is training (it wrote files in this run and has no row yet), within 0.2 s of
  # seeing it. (A fixed delay after a new row missed on an idle machine: the few trials left,
  # resumed from their checkpoints, had finished.)
  if [ "$i" -eq 1 ]; then
    for _ in $(seq 1 600); do [ "$(rows)" -gt "$before" ] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  fi
  for _ in $(seq 1 200); do [ -n "$(running_at_kill)" ] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  sleep "0.$((RANDOM % 3))"
  kill -KILL -- -"$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do pgrep -f -- "--out $TMP/kill" >/dev/null || break; sleep 0.1; done
  pkill -KILL -f -- "--out $TMP/kill" 2>/dev/null || true
  hit=$(running_at_kill | tr '\n' ' ')
  [ -n "$hit" ] && hits=$((hits + 1))
  echo "kill point $i: $(rows) rows so far; trials training when killed: ${hit:-none}"
done
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
