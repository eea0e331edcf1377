#!/usr/bin/env bash
# A SIGKILL during a long maskcnn trial (no drain, no signal handler runs) and a rerun: the trial
# continues from the last checkpoint it wrote (`--checkpoint-every`, improved or not), so
# its learning curve shows no restart, and it ends with the uninterrupted trial's curve and row.
source "$(dirname "$0")/lib.sh"
cat >"$TMP/spec.json" <<'J'
{"family": "maskcnn",
 "data": {"kind": "simulated", "seed": 1, "images": 1200, "size": 20, "neurons": 8, "repeats": 3},
 "fixed": {"channels": 8, "k1": 5},
 "training": {"phases": 1, "max_iters_per_phase": 1000, "eval_every": 10, "patience": 1000, "batch_size": 32},
 "metric": "val_ccnorm", "mode": "max"}
J
expect_exit 0 "$NS" run "$TMP/spec.json" --out "$TMP/ref"
"$NS" run "$TMP/spec.json" --out "$TMP/kill" --checkpoint-every 0.2 >"$TMP/kill.log" 2>&1 &
pid=$!
curve() { compgen -G "$TMP/kill/trials/*/curve.csv" >/dev/null && cat "$TMP"/kill/trials/*/curve.csv | wc -l || echo 0; }
# Killed once a checkpoint is on disk and the curve has 10 lines: a 300-iteration trial took 0.7 s
# on a fast machine, and its curve reached 10 lines before the first checkpoint (0.2 s).
wait_until 30 '[ "$(curve)" -ge 10 ] && compgen -G "$TMP/kill/trials/*/resume.pt" >/dev/null' || true
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
[ ! -f "$TMP/kill/results.csv" ] || [ "$(tail -n +2 "$TMP/kill/results.csv" | wc -l)" -eq 0 ] ||
  fail "the trial had finished before the kill"
ls "$TMP"/kill/trials/*/resume.pt >/dev/null || fail "no checkpoint on disk at the kill"
expect_exit 0 "$NS" run "$TMP/spec.json" --out "$TMP/kill"
grep -Eq "resuming at iteration [1-9][0-9]* " "$TMP/err" || { cat "$TMP/err"; fail "the rerun did not continue from a checkpoint"; }
cmp "$TMP"/ref/trials/*/curve.csv "$TMP"/kill/trials/*/curve.csv || fail "the curve differs from the uninterrupted trial's"
python3 - "$TMP/ref/results.csv" "$TMP/kill/results.csv" <<'PY'
import csv, sys
a, b = (next(csv.DictReader(open(p))) for p in sys.argv[1:3])
for k in ("val_loss", "val_ccnorm", "test_ccnorm", "test_pearson", "best_iteration", "iterations"):
    assert abs(float(a[k]) - float(b[k])) <= 1e-6 * max(1, abs(float(a[k]))), (k, a[k], b[k])
print("ok: killed at", sys.argv[2], "resumed; metrics equal the uninterrupted trial's")
PY
echo "PASS kill9_checkpoint"
