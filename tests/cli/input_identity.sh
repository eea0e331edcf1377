#!/usr/bin/env bash
# A sweep's identity includes the content of the files its trials read (engine/inputs.hpp,
# docs/formats.md "Inputs"): a rerun after one of them changed is refused with exit 2 before
# anything is written, naming the file; `run --accept-changed-inputs` continues and sweep.json
# records the change; `--out` at a directory of another spec's rows is refused the same way.
# 1. the command family: its program edited, its argv changed; accepted; a grid grown and
#    narrowed (only this spec's trials counted); 2. maskcnn: its HDF5 file rewritten in place
#    (a relative path); 3. torchscript: the module re-exported at the same path (Debian's
#    python3-torch, as tests/cli/torchscript_family.sh); 4. another data block's rows.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
cd "$TMP"

# snapshot DIR: every file's path and checksum under DIR (what "nothing changed" compares).
snapshot() { (cd "$1" && find . -type f ! -name .lock -print0 | sort -z | xargs -0 -r md5sum); }
refused() {  # refused WANT... : the last command's stderr holds each WANT
  for w in "$@"; do grep -qF -- "$w" "$TMP/err" || { cat "$TMP/err"; fail "expected '$w'"; }; done
}

# 1. The command family. The program is a path (digested, role "program"); an argument names a
#    file by its absolute path ("argument"); the data block names one ("data").
cat >train.py <<'P'
#!/usr/bin/python3
import json, sys
x = float(sys.argv[sys.argv.index("--x") + 1])
print(json.dumps({"final": {"score": -(x - 1) ** 2}}))
P
chmod +x train.py
echo "settings v1" >settings.txt
echo "table v1" >table.txt
spec() {  # spec FILE GRID [DATA-FILE] [', "EXTRA-ARG"']
  cat >"$1" <<J
{"family": "command",
 "command": {"argv": ["$TMP/train.py", "--x", "{x}", "--settings=$TMP/settings.txt"${4:-}],
             "params": {"x": 0.0}, "metrics": ["score"]},
 "data": {"table": "$TMP/${3:-table.txt}"},
 "grid": {"x": $2}, "metric": "score", "mode": "max", "out": "$TMP/cmd"}
J
}
spec c.json '[0.0, 1.0]'
expect_exit 0 "$NS" run c.json
python3 - "$TMP" <<'PY'
import json, sys
tmp = sys.argv[1]
s = json.load(open(f"{tmp}/cmd/sweep.json"))
roles = {i["path"]: i["role"] for i in s["inputs"]}
assert roles == {f"{tmp}/train.py": "program", f"{tmp}/settings.txt": "argument",
                 f"{tmp}/table.txt": "data"}, roles
assert all(len(i["sha256"]) == 64 and i["bytes"] > 0 for i in s["inputs"]), s["inputs"]
h = s["input_history"]
assert len(h) == 1 and h[0]["since_row"] == 0 and h[0]["inputs_sha256"] == s["inputs_sha256"], h
PY
before=$(snapshot cmd)
# The program edited between runs: refused, naming it with both digests; nothing written.
echo "# a comment" >>train.py
expect_exit 2 "$NS" run c.json
refused "cannot resume: what its rows were run with has changed since:" "changed: $TMP/train.py (program): sha256 " \
  "--accept-changed-inputs" "--force-new"
[ "$before" = "$(snapshot cmd)" ] || fail "a refused run changed the output directory"
# plan reports the same (and writes nothing either).
expect_exit 2 "$NS" plan c.json
refused "changed: $TMP/train.py (program)"
[ "$before" = "$(snapshot cmd)" ] || fail "plan changed the output directory"
# A data file named by the data block, too.
echo "table v2" >table.txt
expect_exit 2 "$NS" run c.json
refused "changed: $TMP/table.txt (data)" "changed: $TMP/train.py (program)"
echo "table v1" >table.txt
# Declared harmless: the run continues (nothing left to run) and sweep.json records the change.
expect_exit 0 "$NS" run c.json --accept-changed-inputs
refused "continuing with changed inputs" "sweep: 2 of 2 trials have a row"
python3 - "$TMP" <<'PY'
import csv, json, sys
tmp = sys.argv[1]
s = json.load(open(f"{tmp}/cmd/sweep.json"))
h = s["input_history"]
assert len(h) == 2, h
e = h[1]
assert e["since_row"] == 2 and "accepted" in e and e["time"], e
a = e["accepted"]["inputs"]
assert [c["path"] for c in a] == [f"{tmp}/train.py"], a
assert a[0]["before"]["sha256"] != a[0]["after"]["sha256"], a
assert len(list(csv.DictReader(open(f"{tmp}/cmd/results.csv")))) == 2
PY
# Unchanged inputs: no refusal and no new history entry; a grown grid runs only its new trial.
spec c3.json '[0.0, 1.0, 2.0]'
expect_exit 0 "$NS" run c3.json
refused "3 trials, 2 already done, 1 to run"
[ "$(python3 -c "import json; print(len(json.load(open('cmd/sweep.json'))['input_history']))")" = 2 ] ||
  fail "an unchanged rerun added a history entry"
# A narrower grid: the rows of the trials it no longer lists stay, but are not counted, and
# best.json names one of its own trials (x = 1 scored best; the spec keeps x = 2 only).
spec c1.json '[2.0]'
expect_exit 0 "$NS" run c1.json
refused "1 trials, 1 already done, 0 to run" "sweep: 1 of 1 trials have a row" \
  "2 row(s) of trials this spec does not list"
python3 - "$TMP" <<'PY'
import csv, json, sys
tmp = sys.argv[1]
rows = {r["trial_id"]: r for r in csv.DictReader(open(f"{tmp}/cmd/results.csv"))}
b = json.load(open(f"{tmp}/cmd/best.json"))
assert float(rows[b["trial_id"]]["x"]) == 2.0, b
assert len(rows) == 3
PY
# The argv changed (not part of a trial id): refused, naming what differs in the block.
spec c4.json '[0.0, 1.0]' table.txt ', "--verbose"'
before=$(snapshot cmd)
expect_exit 2 "$NS" run c4.json
refused 'the "command" block' '$.command.argv[4]: added "--verbose"'
[ "$before" = "$(snapshot cmd)" ] || fail "a refused run changed the output directory"
echo "ok: command family: program, data and argv changes refused; accepted change recorded; counts"

# 4. --out at a directory of another spec's rows (same family and seed, another data block).
spec c5.json '[0.0, 1.0]' other.txt
echo "other" >other.txt
expect_exit 2 "$NS" run c5.json
refused "cannot resume: it holds rows of another data block" "\$.data.table: \"$TMP/table.txt\" -> \"$TMP/other.txt\""
[ "$before" = "$(snapshot cmd)" ] || fail "another spec's run changed the output directory"
expect_exit 2 "$NS" plan c5.json
refused "another data block"
echo "ok: another spec's rows refused"

# 2. maskcnn: the HDF5 file rewritten in place (a lab re-sorts spikes and exports again), named
#    by a relative path.
SIM='"images": 200, "size": 16, "neurons": 6, "repeats": 4'
"$NS" simulate --out v1.h5 --data "{\"seed\": 1, $SIM}" 2>/dev/null
cat >m.json <<J
{"family": "maskcnn", "data": {"kind": "hdf5", "path": "v1.h5"},
 "fixed": {"channels": 4, "layers": 2, "k1": 5, "k_later": 3, "pool": "avg", "pool_size": 2},
 "training": {"phases": 1, "max_iters_per_phase": 10, "eval_every": 5, "patience": 2, "batch_size": 32},
 "grid": {"lr": [0.003]}, "metric": "val_ccnorm", "mode": "max", "out": "$TMP/mc"}
J
expect_exit 0 "$NS" run --threads 1 m.json
before=$(snapshot mc)
"$NS" simulate --out v1.h5 --data "{\"seed\": 2, $SIM}" 2>/dev/null
expect_exit 2 "$NS" run --threads 1 m.json
refused "changed: v1.h5 (data): sha256 "
[ "$before" = "$(snapshot mc)" ] || fail "a refused run changed the output directory"
echo "ok: maskcnn: a rewritten HDF5 file refused"

# 3. torchscript: the module re-exported at the same path with another architecture.
$PY -c "import torch" 2>/dev/null || fail "python3-torch is missing (scripts/setup.sh installs it)"
$PY "$SRC/examples/torchscript_v1/export.py" mod.pt --size 16 --neurons 6 --channels 4 >/dev/null
cat >t.json <<J
{"family": "torchscript", "torchscript": {"task": "neural"},
 "data": {"kind": "simulated", "seed": 0, $SIM},
 "fixed": {"module": "$TMP/mod.pt", "batch_size": 32},
 "training": {"phases": 1, "max_iters_per_phase": 10, "eval_every": 5, "patience": 2},
 "grid": {"lr": [0.003]}, "metric": "val_ccnorm", "mode": "max", "out": "$TMP/ts"}
J
expect_exit 0 "$NS" run --threads 1 t.json
before=$(snapshot ts)
$PY "$SRC/examples/torchscript_v1/export.py" mod.pt --size 16 --neurons 6 --channels 8 >/dev/null
expect_exit 2 "$NS" run --threads 1 t.json
refused "changed: $TMP/mod.pt (module): sha256 "
[ "$before" = "$(snapshot ts)" ] || fail "a refused run changed the output directory"
# --force-new starts afresh: rows, sweep.json and trial directories (checkpoints of the other
# architecture) go aside.
expect_exit 0 "$NS" run --threads 1 t.json --force-new
ls ts | grep -q '^trials.old-' || fail "--force-new kept the old trial directories in place"
ls ts | grep -q '^results.csv.old-' || fail "--force-new did not move the old rows aside"
echo "ok: torchscript: a re-exported module refused; --force-new moves the old trials aside"
echo "PASS input_identity"
