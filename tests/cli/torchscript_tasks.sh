#!/usr/bin/env bash
# The torchscript family's "classification" task and the resume of both tasks:
# 1. examples/torchscript_fashion/classifier.py (exported here with Debian's python3-torch)
#    trains on a Fashion-MNIST subset well above chance; model.pt is the best model as
#    TorchScript and loads in Python; wrong logits, a neural-only key and a junk file are exit 2
#    with nothing written.
# 2. A drain (SIGTERM) in the middle of a trial, then a rerun: the trial continues from its
#    checkpoint (module weights, BatchNorm buffers, optimizer, RNG) and ends with exactly the
#    scores of an uninterrupted run.
# 3. SIGKILLs of the whole job while trials train (lib.sh: kill_while_training), for a
#    classification sweep and a scripted mask CNN sweep: the same trial ids as an uninterrupted
#    run, none twice, every metric finite.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
$PY -c "import torch" 2>/dev/null || fail "python3-torch is missing (scripts/setup.sh installs it)"
$PY "$SRC/examples/torchscript_fashion/classifier.py" "$TMP/cnn.pt" --filters 8 >/dev/null
$PY "$SRC/examples/torchscript_fashion/classifier.py" "$TMP/seven.pt" --filters 8 --classes 7 >/dev/null
echo "not a model" >"$TMP/junk.pt"
FASHION=/usr/share/datasets/fashion-mnist
cat >"$TMP/cls.json" <<J
{"family": "torchscript", "torchscript": {"task": "classification"},
 "data": {"kind": "idx", "dir": "$FASHION", "limit": 800, "test_limit": 300},
 "fixed": {"module": "$TMP/cnn.pt"},
 "training": {"max_epochs": 3, "patience": 0, "batch_size": 32},
 "grid": {"lr": [0.001, 0.003], "optimizer": ["adam", "sgd"]},
 "metric": "val_accuracy", "mode": "max"}
J
expect_exit 0 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/cls.json" --out "$TMP/ref"
python3 - "$TMP/ref" <<'PY'
import csv, json, os, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(f"{out}/results.csv")))
assert len(rows) == 4 and all(r["status"] == "ok" for r in rows), rows
acc = [float(r["test_accuracy"]) for r in rows]
print("test accuracy:", " ".join(f"{a:.3f}" for a in acc))
assert max(acc) > 0.6, acc  # 10 classes: chance is 0.1
for r in rows:
    d = f"{out}/trials/{r['trial_id']}"
    c = json.load(open(f"{d}/config.json"))
    assert c["family"] == "torchscript" and c["model"]["module"].endswith("cnn.pt"), c["model"]
    assert os.path.exists(f"{d}/best_state.pt") and os.path.exists(f"{d}/confusion.csv")
    assert int(r["epochs"]) == 3 and 1 <= int(r["best_epoch"]) <= 3, r
PY
$PY - "$TMP/ref" <<'PY' || fail "the exported model.pt does not load in Python"
import glob, sys, torch
m = torch.jit.load(glob.glob(f"{sys.argv[1]}/trials/*/model.pt")[0])
assert not m.training and tuple(m(torch.zeros(2, 1, 28, 28)).shape) == (2, 10)
PY
bad() {  # bad NAME MODULE PYTHON-EDIT EXPECTED (lib.sh: bad_spec)
  bad_spec "$TMP/cls.json" "$1" "s['fixed']['module'] = '$2'; $3" "$4"
}
bad classes "$TMP/seven.pt" "" "returned shape [2, 7] for 2 images of 1x28x28, expected [2, 10] (one logit per class)"
bad key "$TMP/cnn.pt" 's["torchscript"]["smoothness"] = {"param": "head.weight", "weight": 1}' "smoothness: unknown key for \"task\": \"classification\""
bad task "$TMP/cnn.pt" 's["torchscript"]["task"] = "regression"' "\$.torchscript.task"
bad junk "$TMP/junk.pt" "" "is not a TorchScript file"
echo "ok: classification trains, exports, and refuses bad modules"

# 2. Drain in the middle of a trial (one rank, so both runs use the same threads), then resume.
python3 - "$TMP/cls.json" "$TMP/one.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); s["grid"] = {"lr": [0.003]}; s["training"]["max_epochs"] = 6
json.dump(s, open(sys.argv[2], "w"))
PY
expect_exit 0 "$NS" run "$TMP/one.json" --out "$TMP/one_ref"
"$NS" run "$TMP/one.json" --out "$TMP/one" >"$TMP/one.log" 2>&1 &
pid=$!
wait_until 60 '[ "$(cat "$TMP"/one/trials/*/curve.csv 2>/dev/null | wc -l)" -ge 3 ]' ||
  { kill -KILL "$pid"; fail "drain: the trial wrote no curve rows"; }
kill -TERM "$pid"
set +e; wait "$pid"; got=$?; set -e
[ "$got" -eq 3 ] || { cat "$TMP/one.log"; fail "drain: exit $got, expected 3"; }
ls "$TMP"/one/trials/*/resume.pt >/dev/null 2>&1 || fail "drain: no resume.pt"
expect_exit 0 "$NS" run "$TMP/one.json" --out "$TMP/one"
python3 - "$TMP" <<'PY'
import csv, sys
tmp = sys.argv[1]
a = list(csv.DictReader(open(f"{tmp}/one_ref/results.csv")))[0]
b = list(csv.DictReader(open(f"{tmp}/one/results.csv")))[0]
assert a["trial_id"] == b["trial_id"] and b["status"] == "ok", (a, b)
for k in ("val_accuracy", "val_loss", "test_accuracy", "test_loss", "epochs", "best_epoch"):
    assert a[k] == b[k], (k, a[k], b[k])
curve_a = open(f"{tmp}/one_ref/trials/{a['trial_id']}/curve.csv").read()
curve_b = open(f"{tmp}/one/trials/{b['trial_id']}/curve.csv").read()
strip = lambda c: [l.split(",")[:4] for l in c.splitlines()]  # epoch, lr, train and val loss
assert strip(curve_a) == strip(curve_b), (curve_a, curve_b)
print(f"ok: drained and resumed, same scores as the uninterrupted run (val_loss {b['val_loss']})")
PY

# 3. SIGKILLs while trials train (longer trials than above, so kills find them training: a
#    neural trial of 2 x 120 iterations took under a second and a CI run missed it; 4
#    classification trials of 12 epochs took 2.7 s in all on a fast machine, and the second
#    kill found them done); the ids expected are those `plan` lists.
python3 - "$TMP/cls.json" "$TMP/kcls.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); s["training"]["max_epochs"] = 30
s["grid"]["lr"] = [0.0003, 0.001, 0.003]
json.dump(s, open(sys.argv[2], "w"))
PY
$PY "$SRC/examples/torchscript_v1/export.py" "$TMP/m.pt" --size 20 --neurons 8 >/dev/null
cat >"$TMP/neu.json" <<J
{"family": "torchscript",
 "torchscript": {"task": "neural", "smoothness": {"param": "convs.0.weight", "weight": 5e-6},
                 "readout_bias": {"param": "readout_bias"}},
 "data": {"kind": "simulated", "seed": 1, "images": 1200, "size": 20, "neurons": 8, "repeats": 3},
 "fixed": {"module": "$TMP/m.pt", "batch_size": 64},
 "training": {"phases": 2, "max_iters_per_phase": 600, "eval_every": 10, "patience": 100},
 "grid": {"lr": [0.003, 0.01], "smoothness": [5e-6, 5e-5]},
 "metric": "val_ccnorm", "mode": "max"}
J
RANDOM=4242
kill_while_training "$TMP/kcls.json" "$TMP/kill" 3
[ "$HITS" -ge 2 ] || fail "classification: only $HITS of 3 kills hit a running trial (need 2)"
expect_exit 0 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/kcls.json" --out "$TMP/kill"
"$NS" plan "$TMP/kcls.json" --out "$TMP/kill_plan" --json >"$TMP/kill.plan" 2>/dev/null
RANDOM=777
kill_while_training "$TMP/neu.json" "$TMP/nkill" 3
[ "$HITS" -ge 2 ] || fail "neural: only $HITS of 3 kills hit a running trial (need 2)"
expect_exit 0 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/neu.json" --out "$TMP/nkill"
"$NS" plan "$TMP/neu.json" --out "$TMP/nkill_plan" --json >"$TMP/nkill.plan" 2>/dev/null
python3 - "$TMP" <<'PY'
import csv, json, math, sys
tmp = sys.argv[1]
def load(d, metric):
    text = open(f"{tmp}/{d}/results.csv", newline="").read()
    assert text.endswith("\n")
    rows = list(csv.reader(text.splitlines(keepends=True)))
    h = rows[0]
    for r in rows[1:]:
        assert len(r) == len(h) and r[1] == "ok", r
        assert math.isfinite(float(r[h.index(metric)])), r
    return [r[0] for r in rows[1:]]
for got, metric, n in (("kill", "test_accuracy", 6), ("nkill", "test_ccnorm", 4)):
    want = {t["id"] for t in json.load(open(f"{tmp}/{got}.plan"))["list"]}
    b = load(got, metric)
    assert len(b) == len(set(b)) == len(want) == n and set(b) == want, (b, want)
print("ok: both tasks after kills: the 6 and 4 trial ids of the sweeps, none twice, all finite")
PY
echo "PASS torchscript_tasks"
