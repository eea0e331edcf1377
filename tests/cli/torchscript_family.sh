#!/usr/bin/env bash
# The torchscript family: a scripted mask CNN (exported here with Debian's python3-torch) trained
# by the maskcnn protocol reaches, on the simulated data with the same budget, a test CCnorm
# within 0.03 of the built-in family's; the best model comes back as TorchScript; a traced
# module, a wrong output shape, an unknown parameter name and a file that is not TorchScript are
# exit 2 with nothing written.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
$PY -c "import torch" 2>/dev/null || fail "python3-torch is missing (scripts/setup.sh installs it)"
$PY "$SRC/examples/torchscript_v1/export.py" "$TMP/m.pt" >/dev/null
$PY "$SRC/examples/torchscript_v1/export.py" "$TMP/traced.pt" --traced >/dev/null 2>&1
$PY "$SRC/examples/torchscript_v1/export.py" "$TMP/wrong.pt" --neurons 7 >/dev/null
echo "not a model" >"$TMP/junk.pt"
# The module by a relative path from $TMP: the path is a parameter, so it enters the trial ids and
# seeds; an absolute path under a random $TMP gave other seeds each run (a mean that moved by
# 0.04 between runs, past the 0.03 this test allows).
cd "$TMP"
DATA='{"kind": "simulated", "seed": 0, "images": 1500, "size": 32, "neurons": 30, "repeats": 4}'
TRAIN='{"phases": 1, "max_iters_per_phase": 450, "eval_every": 50, "patience": 10}'
cat >"$TMP/ts.json" <<J
{"family": "torchscript",
 "torchscript": {"task": "neural", "smoothness": {"param": "convs.0.weight", "weight": 5e-6},
                 "readout_l1": {"params": ["readout_spatial", "readout_feature"], "weight": 0.01},
                 "readout_bias": {"param": "readout_bias"}},
 "data": $DATA, "fixed": {"module": "m.pt", "batch_size": 64}, "training": $TRAIN,
 "grid": {"lr": [0.003]}, "repeats": 3, "metric": "val_ccnorm", "mode": "max", "out": "$TMP/ts"}
J
cat >"$TMP/mc.json" <<J
{"family": "maskcnn", "data": $DATA, "fixed": {"channels": 8, "batch_size": 64}, "training": $TRAIN,
 "grid": {"lr": [0.003]}, "repeats": 3, "metric": "val_ccnorm", "mode": "max", "out": "$TMP/mc"}
J
expect_exit 0 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/ts.json"
expect_exit 0 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/mc.json"
python3 - "$TMP" <<'PY'
import csv, sys
tmp = sys.argv[1]
# Three seeds each (repeats): the mean test CCnorm, as single seeds differ by more.
ts = list(csv.DictReader(open(f"{tmp}/ts/results.csv")))
mc = list(csv.DictReader(open(f"{tmp}/mc/results.csv")))
assert all(r["status"] == "ok" for r in ts + mc)
a = sum(float(r["test_ccnorm"]) for r in ts) / len(ts)
b = sum(float(r["test_ccnorm"]) for r in mc) / len(mc)
print(f"mean test CCnorm over {len(ts)} seeds: torchscript {a:.4f}, maskcnn {b:.4f}")
assert abs(a - b) <= 0.03, (a, b)
PY
python3 -c "import csv, json; r = list(csv.DictReader(open('$TMP/mc/results.csv'))); b = json.load(open('$TMP/mc/best_config.json')); assert b['params']['lr'] == 0.003 and b['n'] == 3 and abs(b['value'] - sum(float(x['val_ccnorm']) for x in r) / 3) < 1e-9, b" || fail "best_config.json: not the one configuration's mean over its 3 repeats"
$PY -c "import torch, glob; m = torch.jit.load(glob.glob('$TMP/ts/trials/*/model.pt')[0]); assert tuple(m(torch.zeros(2, 1, 32, 32)).shape) == (2, 30)" \
  || fail "the exported model.pt does not load in Python"
bad() {  # bad NAME MODULE PYTHON-EDIT EXPECTED (lib.sh: bad_spec)
  bad_spec "$TMP/ts.json" "$1" "s['fixed']['module'] = '$2'; $3" "$4"
}
bad traced "$TMP/traced.pt" "" "was traced (torch.jit.trace), not scripted"
bad shape "$TMP/wrong.pt" 'del s["torchscript"]["readout_bias"]' "returned shape [2, 7] for 2 images of 1x32x32, expected [2, 30]"
bad bias "$TMP/wrong.pt" "" "has shape [7], expected [30] (one per neuron)"
bad junk "$TMP/junk.pt" "" "is not a TorchScript file"
bad name "$TMP/m.pt" 's["torchscript"]["smoothness"]["param"] = "conv0.weight"' "'conv0.weight' is not a parameter of the module"
echo "PASS torchscript_family"
