#!/usr/bin/env bash
# Kills the whole mpirun job with SIGKILL at random moments (12 kill points, fixed seed), resumes
# each time, and checks that the final results equal an uninterrupted run's: the same set of
# trial ids, no id twice, no malformed row.
source "$(dirname "$0")/lib.sh"
cat >"$TMP/spec.json" <<'J'
{"family": "quadratic", "grid": {"x": [0.0, 1.0, 2.0, 3.0, 4.0], "y": [0.0, -1.0, -2.0], "k": [0, 1, 2, 3]},
 "training": {"sleep_s": 0.4, "sleep_sigma": 0.8}, "metric": "score", "mode": "max"}
J
"${MPIRUN[@]}" -np 3 "$NS" run "$TMP/spec.json" --out "$TMP/ref" 2>/dev/null || fail "reference run"
rows() { [ -f "$TMP/kill/results.csv" ] && tail -n +2 "$TMP/kill/results.csv" | wc -l || echo 0; }
RANDOM=12345
kills=0
for i in $(seq 1 12); do
  setsid "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/spec.json" --out "$TMP/kill" >/dev/null 2>&1 &
  pid=$!
  # Kill at a random moment after the job has made progress (start-up time varies with load).
  before=$(rows)
  wait_until 15 '[ "$(rows)" -gt "$before" ] || ! kill -0 "$pid" 2>/dev/null' || true
  sleep "0.$((RANDOM % 10))"
  if kill -KILL -- -"$pid" 2>/dev/null; then kills=$((kills + 1)); fi
  wait "$pid" 2>/dev/null || true
  wait_until 5 '! pgrep -f -- "--out $TMP/kill" >/dev/null' || true
  pkill -KILL -f -- "--out $TMP/kill" 2>/dev/null || true
  echo "kill point $i: $(rows) rows so far"
done
"${MPIRUN[@]}" -np 3 "$NS" run "$TMP/spec.json" --out "$TMP/kill" 2>"$TMP/final.log" || { cat "$TMP/final.log"; fail "final resume"; }
[ "$kills" -ge 10 ] || fail "only $kills kill points hit a running job"
python3 - "$TMP" <<'PY'
import csv, json, sys
tmp = sys.argv[1]
def load(d):
    with open(f"{tmp}/{d}/results.csv", newline="") as f:
        text = f.read()
    assert text.endswith("\n"), "last line is partial"
    rows = list(csv.reader(text.splitlines(keepends=True)))
    header, body = rows[0], rows[1:]
    for r in body:
        assert len(r) == len(header), f"malformed row {r}"
        assert r[1] in ("ok", "failed", "timeout"), r
        float(r[header.index("score")])
    return [r[0] for r in body]
ref, got = load("ref"), load("kill")
assert len(got) == len(set(got)), "an id appears twice"
assert set(got) == set(ref), (len(got), len(ref))
assert json.load(open(f"{tmp}/kill/state.json"))["state"] == "complete"
print(f"ok: {len(got)} trials, same ids as the uninterrupted run, none twice")
PY
