#!/usr/bin/env bash
# Cross-validation folds end to end (the spec's "folds": K; docs/formats.md, "Cross-validation
# folds"): a maskcnn grid with 3 folds gives each configuration 3 rows (folds 0, 1, 2), distinct
# trial ids, the fold's sizes in config.json (40 val of the 120 train + val images, the 30 test
# images as without folds; that the parts are disjoint and cover train + val is
# tests/neural/test_folds.cpp's) and validation metrics that differ between folds; the folds
# packed 3 to a worker give the same rows as trained alone; plan
# checks each configuration once; convnet and torchscript (task neural) validate on their
# fold's part; the command family gets {fold}, {folds} and config.json's fold, folds and
# fold_seed (fold and folds are reserved names); too few examples for the folds are refused
# (exit 2, naming $.folds, nothing written).
source "$(dirname "$0")/lib.sh"
spec() {  # spec FILE OUT PACK: 2 configurations x 3 folds of a tiny simulated population
  cat >"$1" <<JSON
{"name": "folds", "family": "maskcnn",
 "data": {"kind": "simulated", "seed": 3, "images": 150, "size": 12, "neurons": 4, "repeats": 3},
 "fixed": {"channels": 3, "k1": 5, "pool_size": 2, "batch_size": 16},
 "training": {"eval_every": 4, "patience": 2, "max_iters_per_phase": 12, "phases": 1},
 "grid": {"lr": [0.003, 0.01]}, "folds": 3, "seed": 5,
 "metric": "val_ccnorm", "mode": "max", "out": "$2", "pack": $3}
JSON
}
spec "$TMP/alone.json" "$TMP/alone" 1
spec "$TMP/packed.json" "$TMP/packed" 3
# The family checks each configuration once, not once per fold.
expect_exit 0 "$NS" plan "$TMP/alone.json"
grep -q " and 2 distinct configuration(s) with the family's checks" "$TMP/out" ||
  { cat "$TMP/out"; fail "plan: expected 2 configurations checked"; }
grep -q "cross-validation: 3 folds of the 120 training + validation examples: each replicate validates on 40 and trains on the rest (80)" "$TMP/out" ||
  { cat "$TMP/out"; fail "plan: expected the folds' sizes"; }
expect_exit 0 "$NS" run "$TMP/alone.json"
expect_exit 0 "$NS" run "$TMP/packed.json"
python3 - "$TMP/alone" "$TMP/packed" <<'PY'
import csv, json, sys
alone, packed = sys.argv[1:3]
rows = list(csv.DictReader(open(f"{alone}/results.csv")))
assert len(rows) == 6 and all(r["status"] == "ok" for r in rows), rows
assert len({r["trial_id"] for r in rows}) == 6, "trial ids repeat across folds"
simulated = None
for lr in ("0.003", "0.01"):
    mine = sorted((r for r in rows if r["lr"] == lr), key=lambda r: r["fold"])
    assert [r["fold"] for r in mine] == ["0", "1", "2"], (lr, [r["fold"] for r in mine])
    assert len({r["val_loss"] for r in mine}) == 3, ("val_loss equal across folds", mine)
    val_sets, test_sets, pool = [], [], None
    for r in mine:
        cfg = json.load(open(f"{alone}/trials/{r['trial_id']}/config.json"))
        assert (cfg["fold"], cfg["folds"], cfg["fold_seed"]) == (int(r["fold"]), 3, 5), cfg
        ds = cfg["dataset"]
        val_sets.append(ds["val"])
        test_sets.append(ds["test"])
        assert ds["train"] + ds["val"] + ds["test"] == 150, ds
    # 150 images: test 30 (the 64/16/20 split), train + val 120 in 3 folds of 40.
    assert val_sets == [40, 40, 40] and test_sets == [30, 30, 30], (val_sets, test_sets)
packed_rows = {r["trial_id"]: r for r in csv.DictReader(open(f"{packed}/results.csv"))}
for r in rows:
    p = packed_rows[r["trial_id"]]
    assert p["fold"] == r["fold"] and p["status"] == "ok", (p, r)
    for m in ("val_loss", "test_loss"):
        x, y = float(p[m]), float(r[m])
        assert abs(x - y) <= 1e-3 * max(1.0, abs(y)), (r["trial_id"], m, x, y)
print("ok: 3 folds per configuration, distinct ids and validation metrics; packed = alone")
PY
# convnet: the IDX training images (limit 300) in 3 folds of 100; val_split is not used; the
# test images stay.
FASHION=/usr/share/datasets/fashion-mnist
if "$NS" families | grep -q '^convnet:' && [ -f "$FASHION/train-images-idx3-ubyte.gz" ]; then
  cat >"$TMP/convnet.json" <<JSON
{"family": "convnet",
 "data": {"kind": "idx", "dir": "$FASHION", "limit": 300, "test_limit": 100},
 "fixed": {"blocks": 1, "filters": 2, "dense_units": 8},
 "training": {"batch_size": 50, "max_epochs": 1, "val_split": 0.2},
 "folds": 3, "seed": 4, "metric": "val_accuracy", "mode": "max", "out": "$TMP/convnet"}
JSON
  expect_exit 0 "$NS" run "$TMP/convnet.json" --threads 1
  python3 - "$TMP/convnet" <<'PY'
import csv, json, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(f"{out}/results.csv")))
assert sorted(r["fold"] for r in rows) == ["0", "1", "2"], rows
assert all(r["status"] == "ok" for r in rows), rows
assert len({r["val_loss"] for r in rows}) == 3, rows
for r in rows:
    c = json.load(open(f"{out}/trials/{r['trial_id']}/config.json"))
    assert (c["fold"], c["folds"], c["fold_seed"]) == (int(r["fold"]), 3, 4), c
    assert (c["n_train"], c["n_val"], c["n_test"]) == (200, 100, 100), c
print("ok: convnet folds of 100 of the 300 training images")
PY
else
  echo "skipped the convnet part: no convnet family or no Fashion-MNIST in $FASHION"
fi

# torchscript, task neural: the maskcnn runner's folds (the same images per fold as maskcnn's).
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  /usr/bin/python3 "$SRC/examples/torchscript_v1/export.py" "$TMP/m.pt" --size 12 --neurons 4 \
    --channels 3 >/dev/null
  python3 - "$TMP/alone.json" "$TMP/ts.json" "$TMP/ts" "$TMP/m.pt" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s.update(family="torchscript", out=sys.argv[3], torchscript={"task": "neural"},
         fixed={"module": sys.argv[4], "batch_size": 16}, grid={"lr": [0.003]})
del s["pack"]
json.dump(s, open(sys.argv[2], "w"))
PY
  expect_exit 0 "$NS" run "$TMP/ts.json"
  python3 - "$TMP/ts" "$TMP/alone" <<'PY'
import csv, json, sys
ts, mc = sys.argv[1:3]
rows = list(csv.DictReader(open(f"{ts}/results.csv")))
assert sorted(r["fold"] for r in rows) == ["0", "1", "2"] and all(r["status"] == "ok" for r in rows), rows
assert len({r["val_loss"] for r in rows}) == 3, rows
for r in rows:
    c = json.load(open(f"{ts}/trials/{r['trial_id']}/config.json"))
    assert (c["fold"], c["folds"], c["dataset"]["val"], c["dataset"]["test"]) == (int(r["fold"]), 3, 40, 30), c
print("ok: torchscript (neural) folds")
PY
else
  echo "skipped the torchscript part: no python3-torch to export a module"
fi

# The command family: {fold} and {folds} in argv, fold, folds, fold_seed in config.json.
cat >"$TMP/prog.py" <<'PY'
import json, sys
c = json.load(open("config.json"))
assert sys.argv[1:] == [str(c["fold"]), str(c["folds"])], (sys.argv, c)
print(json.dumps({"final": {"score": c["fold"] + 10 * c["folds"] + c["params"]["x"],
                            "seed_seen": c["fold_seed"]}}))
PY
cat >"$TMP/cmd.json" <<JSON
{"family": "command",
 "command": {"argv": ["python3", "$TMP/prog.py", "{fold}", "{folds}"], "params": {"x": 0.0},
             "metrics": ["score", "seed_seen"]},
 "grid": {"x": [0.25, 0.5]}, "folds": 3, "seed": 9, "metric": "score", "mode": "max",
 "out": "$TMP/cmd"}
JSON
expect_exit 0 "$NS" run "$TMP/cmd.json"
python3 - "$TMP/cmd" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(f"{sys.argv[1]}/results.csv")))
assert len(rows) == 6 and all(r["status"] == "ok" for r in rows), rows
assert len({r["trial_id"] for r in rows}) == 6
for r in rows:
    assert float(r["score"]) == int(r["fold"]) + 30 + float(r["x"]), r
    assert float(r["seed_seen"]) == 9, r
assert sorted(r["fold"] for r in rows) == ["0", "0", "1", "1", "2", "2"], rows
print("ok: the command family gets fold and folds in argv and config.json")
PY
# Without folds the placeholders are -1 and 0.
python3 - "$TMP/cmd.json" "$TMP/nofolds.json" "$TMP/nofolds" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); del s["folds"]; s["out"] = sys.argv[3]
json.dump(s, open(sys.argv[2], "w"))
PY
expect_exit 0 "$NS" run "$TMP/nofolds.json"
python3 - "$TMP/nofolds/results.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert "fold" not in rows[0], rows[0]
assert sorted(float(r["score"]) for r in rows) == [-0.75, -0.5], rows  # fold -1, folds 0
PY
# A parameter may not be named fold or folds.
bad_spec "$TMP/cmd.json" reserved_fold 's["command"]["params"]["fold"] = 1' '$.command.params.fold: the name is taken'
bad_spec "$TMP/cmd.json" reserved_folds 's["command"]["params"]["folds"] = 1' '$.command.params.folds: the name is taken'

# Too few train + val images for the folds: refused before anything is written.
bad_spec "$TMP/alone.json" too_few 's["data"]["images"] = 20; s["folds"] = 10' '$.folds: 10 folds need at least 20 training + validation examples'
echo "ok: folds"
