#!/usr/bin/env bash
# examples/command_pytorch (a PyTorch CNN on Fashion-MNIST run by the command family) end to end
# on a small subset: synchronous ASHA over 2 workers pauses trials at their rung (the program
# stops by itself at resource_limit) and resumes the promoted one from its checkpoint; every
# trial learns (above chance); then the promoted configuration alone, drained by SIGTERM to rank
# 0 in the middle of an epoch: the program checkpoints and exits 75, the sweep exits 3, and the
# rerun resumes it in its directory. Both resumes end with the same numbers (same seed, one
# thread), so neither checkpoint loses anything.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
EX=$SRC/examples/command_pytorch
DATA=/usr/share/datasets/fashion-mnist
# (find_spec: importing torch here would cost seconds)
$PY -c "import importlib.util as u, sys; sys.exit(u.find_spec('torch') is None)" || fail "python3-torch is missing (scripts/setup.sh installs it)"
[ -f "$DATA/train-images-idx3-ubyte.gz" ] || fail "Fashion-MNIST is missing in $DATA (scripts/setup.sh installs it)"

# The example names train.py as {cwd}/examples/command_pytorch/train.py: run from the
# repository root, as its README says.
python3 - "$EX" <<'PY'
import json, sys
s = json.load(open(f"{sys.argv[1]}/spec.json"))
assert s["command"]["argv"][1] == "{cwd}/examples/command_pytorch/train.py", s["command"]["argv"]
PY
cd "$SRC"
# tiny SPEC OUT-DIR SCHEDULER-JSON GRID-JSON: the example's spec on 2000 training images (1800
# train, 200 validation) and 500 test images, 3 epochs.
tiny() {
  python3 - "$EX" "$1" "$2" "$3" "$4" <<'PY'
import json, sys
ex, path, out, sched, grid = sys.argv[1:]
s = json.load(open(f"{ex}/spec.json"))
s["command"]["params"]["epochs"] = 3
s["data"].update(limit=2000, test_limit=500)
s["grid"] = json.loads(grid)
s["out"] = out
s.pop("scheduler")
if sched != "null":
    s["scheduler"] = json.loads(sched)
json.dump(s, open(path, "w"), indent=1)
PY
}

T0=$SECONDS
# 1. Synchronous successive halving over 3 learning rates, rungs at 1 and 3 epochs: 2 trials stop
#    at 1, the best goes on from its rung's checkpoint to 3.
tiny "$TMP/a.json" "$TMP/a" '{"kind": "asha", "resource": "epochs", "min": 1, "max": 3, "eta": 3, "synchronous": true}' \
  '{"lr": [0.001, 0.002, 0.004], "channels": [4]}'
expect_exit 0 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/a.json" --threads 1
python3 - "$TMP/a" <<'PY'
import collections, csv, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(f"{out}/results.csv")))
st = collections.Counter(r["status"] for r in rows)
assert st == {"stopped": 2, "ok": 1}, (st, rows)
for r in rows:  # one epoch on 1800 images is far above chance (0.1) already
    assert float(r["val_accuracy"]) > 0.4, r
best = [r for r in rows if r["status"] == "ok"][0]
assert best["resource"] == "3" and float(best["resumed_from_epoch"]) == 1.0, best
assert float(best["val_accuracy"]) > 0.6 and float(best["test_accuracy"]) > 0.6, best
log = open(f"{out}/trials/{best['trial_id']}/log.txt").read()
assert "stopped at the rung of 1 epochs" in log and "resumed from checkpoint.pt at epoch 1.000" in log, log
print("ok: ASHA:", dict(st), "; val_accuracy", ", ".join(r["val_accuracy"] for r in rows),
      "; best test_accuracy", best["test_accuracy"])
PY
echo "(phase 1 done at $((SECONDS - T0)) s)"

# 2. Drain: ASHA's best configuration again, without a scheduler, one worker; SIGTERM to rank 0
#    once the trial has reported its first epoch. The program saves a checkpoint mid-epoch and
#    exits 75; the sweep exits 3; the rerun resumes the trial.
best_lr=$(csv_col "$TMP/a/results.csv" lr status=ok)
tiny "$TMP/b.json" "$TMP/b" null "{\"lr\": [$best_lr], \"channels\": [4]}"
"${MPIRUN[@]}" -np 2 "$NS" run "$TMP/b.json" --threads 1 >"$TMP/blog" 2>&1 &
mpirun_pid=$!
rank0=""
rank0_reported() {  # finds rank 0 among mpirun's children; true once its trial reported an epoch
  rank0=$(mpi_rank_pid "$mpirun_pid" 0)
  [ -n "$rank0" ] && grep -qs "^epoch 1/3" "$TMP"/b/trials/*/log.txt
}
wait_until 60 rank0_reported || true
[ -n "$rank0" ] || { kill -KILL "$mpirun_pid"; fail "rank 0 not found among mpirun's children"; }
grep -qs "^epoch 1/3" "$TMP"/b/trials/*/log.txt || { kill -KILL "$mpirun_pid"; fail "the trial reported no epoch"; }
kill -TERM "$rank0"
set +e; wait "$mpirun_pid"; got=$?; set -e
[ "$got" -eq 3 ] || { cat "$TMP/blog"; fail "drain: exit $got, expected 3"; }
grep -q '"state": "interrupted"' "$TMP/b/state.json" || fail "state.json not interrupted"
grep -qs "SIGTERM: checkpoint saved" "$TMP"/b/trials/*/log.txt || fail "the program did not checkpoint on SIGTERM"
grep -qs "exited with code 75" "$TMP"/b/trials/*/log.txt || fail "the program did not exit with 75"
echo "(drained at $((SECONDS - T0)) s)"
expect_exit 0 "${MPIRUN[@]}" -np 2 "$NS" run "$TMP/b.json" --threads 1
python3 - "$TMP/a" "$TMP/b" <<'PY'
import csv, sys
a = [r for r in csv.DictReader(open(f"{sys.argv[1]}/results.csv")) if r["status"] == "ok"][0]
rows = list(csv.DictReader(open(f"{sys.argv[2]}/results.csv")))
assert len(rows) == 1 and rows[0]["status"] == "ok", rows
b = rows[0]
assert b["trial_id"] == a["trial_id"], (a, b)  # the same configuration, seed and data
assert 1 <= float(b["resumed_from_epoch"]) < 3, f"not resumed mid-training: {b['resumed_from_epoch']}"
log = open(f"{sys.argv[2]}/trials/{b['trial_id']}/log.txt").read()
assert "resuming trial" in log and "resumed from checkpoint.pt" in log, log
# Paused at ASHA's rung and resumed, against drained mid-epoch and resumed: the same losses and
# accuracies to the last digit.
for m in ("val_loss", "val_accuracy", "test_loss", "test_accuracy"):
    assert a[m] == b[m], (m, a, b)
print(f"ok: drained at epoch {b['resumed_from_epoch']} and resumed; the same metrics as ASHA's run:",
      ", ".join(f"{m} {b[m]}" for m in ("val_accuracy", "test_accuracy")))
PY
echo "(done at $((SECONDS - T0)) s)"
echo "PASS command_pytorch"
