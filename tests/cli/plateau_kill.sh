#!/usr/bin/env bash
# A SIGKILL long after a trial's last improvement (its validation loss on a plateau) costs at most
# about `--checkpoint-every` seconds of training plus one evaluation interval (maskcnn) or one
# batch (convnet), not everything since the improvement: checkpoints are kept whether or not the
# loss improved. With `--checkpoint-every 0.001` (a checkpoint at every chance) the rerun must
# continue from within one evaluation interval (one epoch) of the kill point, far past the last
# improvement, and end with the uninterrupted trial's curve and row, bit for bit; with
# `--checkpoint-every 1000` no checkpoint is written at all (the time rule bounds their cost).
source "$(dirname "$0")/lib.sh"

# kill_at SPEC OUT COLUMN MIN EVERY: runs SPEC alone (--threads 1) with --checkpoint-every EVERY
# and SIGKILLs it once its curve.csv's last row has COLUMN 1 >= MIN; fails if it finished first.
kill_at() {
  local spec=$1 out=$2 min=$3 every=$4 pid last=0
  "$NS" run "$spec" --out "$out" --threads 1 --checkpoint-every "$every" >"$out.log" 2>&1 &
  pid=$!
  reached() {
    last=$(tail -n 1 "$out"/trials/*/curve.csv 2>/dev/null | cut -d, -f1) || true
    { [[ "$last" =~ ^[0-9]+$ ]] && [ "$last" -ge "$min" ]; } || ! kill -0 "$pid" 2>/dev/null
  }
  wait_until 180 reached || true
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ ! -s "$out/results.csv" ] || [ "$(tail -n +2 "$out/results.csv" | wc -l)" -eq 0 ] ||
    fail "$out: the trial finished before the kill"
}
# last_row OUT: the first column of the last row of the trial's curve.csv (as the kill left it).
last_row() { tail -n 1 "$1"/trials/*/curve.csv | cut -d, -f1; }
# same_row REF GOT: the rows agree in every column but timings, rank and host.
same_row() {
  python3 - "$1/results.csv" "$2/results.csv" <<'PY'
import csv, sys
a, b = (list(csv.DictReader(open(p))) for p in sys.argv[1:3])
assert len(a) == len(b) == 1, (len(a), len(b))
skip = {"ms_per_iter", "cpu_ms_per_iter", "s_per_epoch", "wall_s", "started", "ended", "rank", "host", "attempt"}
diff = {k: (a[0][k], b[0][k]) for k in a[0] if k not in skip and a[0][k] != b[0].get(k)}
assert not diff, diff
print("ok: the resumed row equals the uninterrupted one:",
      {k: a[0][k] for k in ("val_loss", "best_iteration", "best_epoch") if k in a[0]})
PY
}

# maskcnn: lr 0.01 on 300 images overfits; the validation loss stops improving at iteration ~90
# of 800 (evaluations every 10).
cat >"$TMP/mask.json" <<'J'
{"family": "maskcnn",
 "data": {"kind": "simulated", "seed": 1, "images": 300, "size": 20, "neurons": 8, "repeats": 3},
 "fixed": {"channels": 8, "k1": 5, "lr": 0.01},
 "training": {"phases": 1, "max_iters_per_phase": 800, "eval_every": 10, "patience": 1000, "batch_size": 32},
 "metric": "val_ccnorm", "mode": "max"}
J
expect_exit 0 "$NS" run "$TMP/mask.json" --out "$TMP/mref" --threads 1
best=$(csv_col "$TMP/mref/results.csv" best_iteration)
[ "$best" -le 300 ] || fail "maskcnn: the last improvement is at iteration $best, not early (no plateau to test)"
kill_at "$TMP/mask.json" "$TMP/mkill" $((best + 300)) 0.001
killed=$(last_row "$TMP/mkill")
ls "$TMP"/mkill/trials/*/resume.pt >/dev/null || fail "maskcnn: no checkpoint on disk at the kill"
expect_exit 0 "$NS" run "$TMP/mask.json" --out "$TMP/mkill" --threads 1
from=$(grep -Eo "resuming at iteration [0-9]+" "$TMP/err" | grep -Eo "[0-9]+$") ||
  { cat "$TMP/err"; fail "maskcnn: the rerun did not continue from a checkpoint"; }
echo "maskcnn: last improvement at iteration $best, killed at $killed, resumed from $from ($((killed - from)) iterations retrained)"
[ "$from" -gt "$best" ] || fail "maskcnn: resumed from $from, at or before the last improvement ($best)"
[ $((killed - from)) -le 10 ] || fail "maskcnn: resumed from $from, more than one evaluation interval (10) before the kill at $killed"
cmp "$TMP"/mref/trials/*/curve.csv "$TMP"/mkill/trials/*/curve.csv || fail "maskcnn: the curve differs from the uninterrupted trial's"
same_row "$TMP/mref" "$TMP/mkill"
# The time rule: with --checkpoint-every 1000 a kill at the same point finds no checkpoint.
kill_at "$TMP/mask.json" "$TMP/mslow" $((best + 300)) 1000
! ls "$TMP"/mslow/trials/*/resume.pt >/dev/null 2>&1 || fail "maskcnn: a checkpoint was written before --checkpoint-every 1000 passed"

# convnet: lr 0.01 on 300 Fashion-MNIST images overfits; the validation loss stops improving at
# epoch ~11 of 80.
cat >"$TMP/conv.json" <<'J'
{"family": "convnet",
 "data": {"kind": "idx", "dir": "/usr/share/datasets/fashion-mnist", "limit": 400, "test_limit": 100},
 "fixed": {"blocks": 1, "filters": 4, "dense_units": 16, "lr": 0.01},
 "training": {"optimizer": "adam", "batch_size": 32, "max_epochs": 80, "patience": 0, "val_split": 0.25},
 "metric": "val_accuracy", "mode": "max"}
J
expect_exit 0 "$NS" run "$TMP/conv.json" --out "$TMP/cref" --threads 1
best=$(csv_col "$TMP/cref/results.csv" best_epoch)
[ "$best" -le 30 ] || fail "convnet: the last improvement is at epoch $best, not early (no plateau to test)"
kill_at "$TMP/conv.json" "$TMP/ckill" $((best + 30)) 0.001
killed=$(last_row "$TMP/ckill")
ls "$TMP"/ckill/trials/*/resume.pt >/dev/null || fail "convnet: no checkpoint on disk at the kill"
expect_exit 0 "$NS" run "$TMP/conv.json" --out "$TMP/ckill" --threads 1
from=$(grep -Eo "\([0-9]+ epochs done\)" "$TMP/err" | grep -Eo "[0-9]+") ||
  { cat "$TMP/err"; fail "convnet: the rerun did not continue from a checkpoint"; }
echo "convnet: last improvement at epoch $best, killed after epoch $killed, resumed after epoch $from ($((killed - from)) epochs retrained, at most one partly)"
[ "$from" -gt "$best" ] || fail "convnet: resumed after epoch $from, near the last improvement ($best)"
[ $((killed - from)) -le 1 ] || fail "convnet: resumed after epoch $from, more than one epoch before the kill after epoch $killed"
cmp "$TMP"/cref/trials/*/curve.csv "$TMP"/ckill/trials/*/curve.csv || fail "convnet: the curve differs from the uninterrupted trial's"
same_row "$TMP/cref" "$TMP/ckill"
echo "PASS plateau_kill"
